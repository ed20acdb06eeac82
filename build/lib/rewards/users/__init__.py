"""Community members as the engine knows them: reputation and standing."""
