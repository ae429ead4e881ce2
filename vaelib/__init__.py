"""vaelib: the small, tested package behind the VAE notebook series (notebooks 00-08 in notebooks/).

Importing any module does no work. The modules, by floor of the import graph (each imports only from floors
below it; none imports a command):

* foundations: ``losses`` (the objective, term by term: start here), ``config`` (paths, smoke switch, seeds,
  device), ``checkpoint`` (the file format), ``mixture``, ``vmf``, ``gradients``, ``plots``, ``tables``;
* data and model parts: ``data`` (MNIST), ``posteriors``, ``priors``, ``toy``, ``diagram``, ``manifest`` (what
  pretrained/ holds, verified; its one writer); then ``models``, ``evaluate``;
* training and analysis: ``train``, ``latent``, ``aggregate``, ``expost``, ``classifier``, ``scores``,
  ``pretrained`` (load a shipped model, else train), ``shipped`` (the shipped configs and notebook constants);
* the commands that rebuild pretrained/, peers above everything else: ``build``, ``artefacts``, ``sweep``,
  ``twostage`` (``make pretrained`` runs them all);
* two packages: ``exercises`` (each notebook's graded checks, ``nb00`` ... ``nb08``, and the editions) and
  ``widgets`` (the interactive explorers of notebooks 01-03 and 05).

Each module's docstring names the notebooks that derive or use it.
"""
__version__ = "0.1.0"
