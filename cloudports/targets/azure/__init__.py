"""Azure: one NSG for the topology, one application security group (ASG) per role."""
