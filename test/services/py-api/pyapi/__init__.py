"""py-api: a test service shaped unlike the examples (issue 11), on Debian's python3 and standard library."""
