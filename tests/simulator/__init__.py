"""A local AWS endpoint for the collection's tests and demo.

moto's server does the API surface; this package adds what the collection
depends on and moto lacks (AMI/snapshot life cycles, throttling, injected
faults, a call log, SSM Run Command that runs bash in a sandbox per
instance) and a control endpoint under /_sim/ to drive it.
"""
