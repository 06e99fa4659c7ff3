"""What staff use to run the service: the operations dashboard (its figures and charts) and the call simulator."""
