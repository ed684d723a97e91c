"""Channel-agnostic conversations and domain rules."""
