"""Prior data collection, behavioral priors and skill priors."""
