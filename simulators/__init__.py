"""Software twins of the meters Wattkeeper reads; used by tests, benchmarks and the demo."""
