"""What Cascade lists: one query engine for its own rows and one merge for regions' answers.

``order`` sorts, filters and pages rows Cascade answers from its database
(images, networks and their kin) whatever the dialect (Glance's or Neutron's
query language is parsed by the service that speaks it); ``merge`` joins
answers that regions sorted themselves (servers, flavors, ports).
"""
