"""Chat models: their facts and licences, and the votes on side-by-side answers."""
