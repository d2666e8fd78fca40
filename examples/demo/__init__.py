"""The end-to-end demo: load -> metrics -> verdict and burn alert -> rollback hook -> audit."""
