"""Drop-in replacements for the peers' functions, computed by copyscope's engine:
copyscope.compat.pytorch_fid (pytorch-fid's fid_score) and copyscope.compat.cleanfid
(clean-fid's fid, for the modes the engine supports)."""
from . import cleanfid, pytorch_fid  # noqa: F401
