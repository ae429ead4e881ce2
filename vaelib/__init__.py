"""vaelib: the small, tested package behind the VAE notebook series.

One module per chapter; importing it does no work. Start with ``vaelib.losses`` (the objective),
then ``vaelib.models``, ``vaelib.data`` and ``vaelib.train``.
"""
__version__ = "0.1.0"
