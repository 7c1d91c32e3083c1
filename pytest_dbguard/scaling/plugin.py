"""Scale-factor assertion markers."""
