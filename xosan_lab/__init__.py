"""The local lab: a whole XOSAN pool on one machine (storage nodes in network
namespaces running real GlusterFS, and a XAPI simulator). Test and demo code;
it never runs in dom0."""
