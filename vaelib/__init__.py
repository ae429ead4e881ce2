"""vaelib: the small, tested package behind the VAE notebook series (notebooks 00-09 and the appendix 10 in notebooks/).

Importing any module does no work. The modules, by floor of the import graph (each imports only from floors
below it; none imports a command):

* foundations: ``checks`` (one sentence for every bad argument), ``config`` (paths, smoke switch, seeds, device),
  ``tables``, ``checkpoint`` (the file format), ``losses`` (the objective, term by term: start here),
  ``gradients``, ``figcheck`` (the figure check), ``remote`` (checked downloads), ``mixture``, ``vmf``, ``plots``;
* data and model parts: ``data`` (MNIST), ``manifest`` (what pretrained/ holds, verified; its one writer),
  ``posteriors``, ``priors``, ``toy``, ``diagram``, ``notebook`` (each notebook's one setup call); then
  ``models``, ``evaluate``, ``classifier``, ``expost``, ``aggregate``;
* training and analysis: ``train``, ``latent``, ``scores``, ``experiments`` (the "your turn" runs), ``collapse``
  (notebook 09), ``pretrained`` (load a shipped model, else train), ``shipped`` (the shipped configs and the
  notebooks' constants);
* the commands that rebuild pretrained/, peers above everything else: ``build``, ``artefacts``, ``sweep``,
  ``twostage`` (``make pretrained`` runs them all);
* two packages: ``exercises`` (each notebook's graded checks, ``nb00`` ... ``nb09``, and the editions) and
  ``widgets`` (the interactive explorers of notebooks 01-03 and 05).

Each module's docstring names the notebooks that derive or use it.
"""
__version__ = "0.1.0"
