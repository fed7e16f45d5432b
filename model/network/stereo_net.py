"""FastFoundationStereo: wires the stages. Attribute names are the bp2 checkpoint's (upstream layout).

forward(left, right, iters=None, test_mode=True), inputs [B,3,H,W] ImageNet-normalised, H and W
multiples of 32 (see `padding.InputPadder`):
  * test mode  -> disparity [B,1,H,W] in full-resolution pixels;
  * train mode -> (init_disp [B,1,H/4,W/4] in 1/4-res pixels, [pred_i [B,1,H,W]] one per iteration).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from model.config import NetworkConfig
from model.network.aggregation import CostAggregation, VolumeStem
from model.network.backbone import FeatureExtractor
from model.network.context import ChannelAttention, ContextNet, SpatialAttention
from model.network.cost_volume import build_concat_volume, build_gwc_volume
from model.network.disparity import VolumeClassifier, soft_argmin
from model.network.geometry import GeometryEncoder
from model.network.refinement import UpdateBlock
from model.network.upsample import SpxToHalf, Stem2, context_upsample

__all__ = ["FastFoundationStereo"]


class FastFoundationStereo(nn.Module):
    """The bp2 FFS network built from a validated `NetworkConfig`."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.feature = FeatureExtractor(cfg.feature_dim - 96, cfg.edgenext_pretrained_path)
        f4, f8, f16, f32 = self.feature.out_channels
        net_ch, inp_ch = cfg.cnet_conv04_widths
        self.stem_2 = Stem2(cfg.stem_2_widths)
        self.proj_cmb = nn.Conv2d(f4, cfg.concat_channel // 2, 1)
        self.corr_feature_att = VolumeStem(cfg.cv_group + cfg.concat_channel, cfg.volume_dim, f4)
        self.cost_agg = CostAggregation(cfg.volume_dim, (f4, f8, f16, f32), cfg.disp_bins, cfg.qkv_layout)
        self.classifier = VolumeClassifier(cfg.volume_dim)
        self.cnet = ContextNet(f4, net_ch, inp_ch)
        self.cam = ChannelAttention(inp_ch, cfg.cam_mid_channels)
        self.sam = SpatialAttention()
        self.update_block = UpdateBlock(
            cfg.geo_feat_dim, inp_ch, cfg.gru_hidden, cfg.motion_encoder_widths, cfg.motion_encoder_final,
            cfg.gru_gating_conv_widths, cfg.disp_head_intermediate, cfg.disp_head_pwconv1_widths, cfg.mask_widths,
        )
        self.spx_2_gru = SpxToHalf(cfg.spx_2_gru_widths)
        self.spx_gru = nn.Sequential(nn.ConvTranspose2d(cfg.spx_2_gru_widths[3], cfg.spx_gru_out, 4, 2, 1))
        self.channels_last = False  # set by fusion.to_channels_last: geometry features stay NHWC
        # set by model.training.fast for the training runtime (not a module: no state_dict entry)
        self.train_iteration = None

    def _amp(self, x: torch.Tensor) -> contextlib.AbstractContextManager:
        """bf16 autocast for the conv stages when cfg.mixed_precision (else leave any outer autocast)."""
        if self.cfg.mixed_precision:
            return torch.autocast(x.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def forward(self, left: torch.Tensor, right: torch.Tensor, iters: int | None = None,
                test_mode: bool = True):
        cfg = self.cfg
        if iters is None:
            iters = cfg.valid_iters if test_mode else cfg.train_iters
        init_disp, geo, net, inp, att, stem_2x = self._encode(left, right)
        disp = init_disp
        preds = []
        # training may run each iteration through a compiled / recomputed wrapper of _iteration
        step = self.train_iteration if (not test_mode and self.train_iteration is not None) else self._iteration
        for itr in range(iters):  # static loop: iters is a Python int
            # test mode upsamples only the last iteration: the others need no mask
            upsample = not test_mode or itr == iters - 1
            net, disp, pred = step(geo, net, inp, att, disp.detach(), stem_2x, upsample)
            if upsample:
                preds.append(pred)
        if test_mode:
            return preds[-1]
        return init_disp, preds

    def _iteration(self, geo: GeometryEncoder, net: torch.Tensor, inp: torch.Tensor, att: torch.Tensor,
                   disp: torch.Tensor, stem_2x: torch.Tensor, upsample: bool) -> tuple:
        """One refinement step -> (hidden, disparity at 1/4 res, full-res prediction or None)."""
        geo_feat = geo.lookup(disp)
        with self._amp(disp):
            net, mask_feat, delta = self.update_block(net, inp, geo_feat, disp, att, with_mask=upsample)
        disp = disp + delta.float()
        return net, disp, self._upsample(disp, mask_feat, stem_2x) if upsample else None

    def _encode(self, left: torch.Tensor, right: torch.Tensor) -> tuple:
        """Everything before the GRU loop -> (init_disp, geometry encoder, net, inp, att, stem_2x).

        A method of its own so that the features and the 3D volumes (the largest tensors) are
        freed when it returns instead of living through the whole GRU loop: the geometry
        pyramids hold what the loop needs.
        """
        b = left.shape[0]
        with self._amp(left):
            feats = self.feature(torch.cat([left, right], dim=0))
            feats_l = [f[:b] for f in feats]  # [224 @1/4, 192 @1/8, 320 @1/16, 304 @1/32]
            fl4, fr4 = feats_l[0], feats[0][b:]
            stem_2x = self.stem_2(left)  # [B, s1, H/2, W/2]
            volume = self._initial_volume(fl4, fr4)  # [B, G + concat, D, h, w]
            volume = self.corr_feature_att(volume, fl4)  # [B, c, D, h, w]
            volume = self.cost_agg(volume, feats_l)
            logits = self.classifier(volume)  # [B, D, h, w]
            net, inp, att = self._context(fl4)
        init_disp = soft_argmin(logits)  # [B, 1, h, w], 1/4 px, fp32
        return init_disp, self._geometry(fl4, fr4, volume), net, inp, att, stem_2x

    def _context(self, fl4: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The GRU's initial hidden state, its context input and the spatial attention [B, 1, h, w]."""
        net, inp = self.cnet(fl4)
        inp = torch.relu(inp)
        inp = self.cam(inp) * inp
        return torch.tanh(net), inp, self.sam(inp)

    def _geometry(self, fl4: torch.Tensor, fr4: torch.Tensor, volume: torch.Tensor) -> GeometryEncoder:
        """The lookup pyramids of the aggregated volume and the row correlation (fp32 lookups)."""
        cfg = self.cfg
        with torch.autocast(fl4.device.type, enabled=False):
            # [:, :volume_dim]: a fast path may carry zero channels past it (fusion.pad_volume_channels)
            return GeometryEncoder(fl4, fr4, volume[:, :cfg.volume_dim], cfg.corr_levels, cfg.corr_radius,
                                   self.channels_last)

    def _initial_volume(self, fl4: torch.Tensor, fr4: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        with torch.autocast(fl4.device.type, enabled=False):  # cosine GWC stays fp32
            gwc = build_gwc_volume(fl4, fr4, cfg.disp_bins, cfg.cv_group, cfg.gwc_feature_normalize)
        concat = build_concat_volume(self.proj_cmb(fl4), self.proj_cmb(fr4), cfg.disp_bins)
        return torch.cat([gwc.to(concat.dtype), concat], dim=1)

    def _upsample(self, disp: torch.Tensor, mask_feat: torch.Tensor, stem_2x: torch.Tensor) -> torch.Tensor:
        with self._amp(disp):
            logits = self.spx_gru(self.spx_2_gru(mask_feat, stem_2x))  # [B, 9, H, W]
        return context_upsample(disp, logits)
