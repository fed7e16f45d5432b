"""Stereo data: file readers, annotation files, datasets by name, synthetic scenes, augmentation."""

from model.data.annotations import read_annotation_file
from model.data.augment import AugmentationConfig, augment
from model.data.datasets import DATASET_NAMES, StereoDataset, build_dataset
from model.data.io import read_image, read_pfm, write_pfm, write_png
from model.data.normalize import IMAGENET_MEAN, IMAGENET_STD, normalize_image
from model.data.synthetic import SyntheticStereo, render_stereo_pair

__all__ = [
    "AugmentationConfig", "DATASET_NAMES", "IMAGENET_MEAN", "IMAGENET_STD", "StereoDataset",
    "SyntheticStereo", "augment", "build_dataset", "normalize_image", "read_annotation_file",
    "read_image", "read_pfm", "render_stereo_pair", "write_pfm", "write_png",
]
