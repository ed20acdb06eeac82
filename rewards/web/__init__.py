"""The pages: sign-in, the expert's /me, the public boards and the managers' console."""
