"""Networks, subnets, ports and security groups: global objects placed per region."""
