"""Datasets shipped inside the package, so every program runs offline: `mnist`, `shakespeare`,
`movie_reviews`, `airline` and `sunspots` (sources and licences in each module's docstring).
Keras's `imdb`, `reuters`, `fashion_mnist`, `cifar10` and `boston_housing` are read from Keras's
own files in its cache (`cache.get_file`), which lstmkit neither ships nor downloads."""

from . import airline as airline
from . import boston_housing as boston_housing
from . import cifar10 as cifar10
from . import fashion_mnist as fashion_mnist
from . import imdb as imdb
from . import reuters as reuters
from . import mnist as mnist
from . import movie_reviews as movie_reviews
from . import shakespeare as shakespeare
from . import sunspots as sunspots

__all__ = ["airline", "boston_housing", "cifar10", "fashion_mnist", "imdb", "mnist", "movie_reviews", "reuters",
           "shakespeare", "sunspots"]
