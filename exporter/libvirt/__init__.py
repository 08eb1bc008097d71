"""libvirt access: connection, bulk stats fetching and pure parsers of what libvirt returns."""
