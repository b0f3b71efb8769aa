"""In-memory fakes of frumious's ports, for tests of the core and of plugins."""
