"""The city's side: keys, issuing cards, revoking, and publishing trust data."""
