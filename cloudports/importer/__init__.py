"""`cloudports import`: a live lab's firewall rules -> a topology spec (roles, networks, services, flows)."""
