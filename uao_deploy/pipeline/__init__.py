"""The lifting core, arrays in and arrays out, without torch: a :class:`Camera`, :func:`prepare`
(missing joints, checks), :func:`lift` with one of three strategies on an engine, a
:class:`LiftResult`. Files are read by :mod:`uao_deploy.io.keypoints` and written by
:mod:`uao_deploy.io.results`; :mod:`uao_deploy.pipeline.world` puts a result on the floor."""
from .camera import Camera, FocalSource, camera_of
from .lift import lift
from .prepare import Prepared, prepare
from .result import LiftResult
from .settings import STRATEGIES, LiftSettings

__all__ = ["Camera", "FocalSource", "LiftResult", "LiftSettings", "Prepared", "STRATEGIES", "camera_of", "lift",
           "prepare"]
