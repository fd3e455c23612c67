"""Datasets shipped inside the package, so every program runs offline: `mnist`, `shakespeare`,
`movie_reviews`, `airline` and `sunspots` (sources and licences in each module's docstring)."""

from . import airline as airline
from . import mnist as mnist
from . import movie_reviews as movie_reviews
from . import shakespeare as shakespeare
from . import sunspots as sunspots

__all__ = ["airline", "mnist", "movie_reviews", "shakespeare", "sunspots"]
