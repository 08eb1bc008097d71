"""What the tests share: helpers, fakes, fixtures loaders. No test imports another test."""
