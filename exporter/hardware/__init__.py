"""Hardware sources read from sysfs-style trees: thermal, EDAC."""
