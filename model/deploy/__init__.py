"""Deploy: ONNX Runtime and TensorRT runners, engine building, the deploy predictor, drift report.

`make_deploy_predictor(spec, action)` is what `model.evaluation.predictor.make_predictor`
calls for `<action>.onnx_file` / `<action>.trt_engine`.
"""

from model.model_files import resolve_model_file
from model.deploy.predictor import DeployPredictor, deploy_source, make_deploy_predictor
from model.deploy.resize import resize_pair, restore_disparity

__all__ = ["make_deploy_predictor", "DeployPredictor", "deploy_source", "resolve_model_file", "resize_pair",
           "restore_disparity"]
