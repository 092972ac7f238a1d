"""Access: identities, grants, API keys and users' conversations, in the data directory's databases."""
