"""Who may act: API keys for machines (the forum, integrations), hashed at rest, with scopes; and the server-side
switch that ends a member's browser sessions."""
