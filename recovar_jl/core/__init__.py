"""recovar_jl.core: the public API of recovar.core (recovar 1.0.5), NumPy in and out.

Same submodules, names and arguments as recovar.core; kernels run in Julia (RecovarCore),
which starts on the first kernel call, not on import.
"""
from . import (configs, ctf, cubic_interpolation, forward, fourier_transform_utils, geometry, indexing,
               linalg, mask, padding, slicing)
from .configs import ForwardModelConfig
from .ctf import (CTFEvaluator, CTFMode, CTFParamIndex, as_ctf_evaluator, critical_exposure, evaluate_ctf,
                  get_dose_filters, get_dose_filters_from_tilt_number)
from .forward import batch_translate_images
from .geometry import (batch_batch_find_frequencies_within_grid_dist, batch_find_frequencies_within_grid_dist,
                       batch_get_gridpoint_coords, batch_get_nearest_gridpoint_indices, batch_trans_translate_images,
                       batch_translate, find_frequencies_within_grid_dist, get_gridpoint_coords,
                       get_nearest_gridpoint_indices, get_stencil, get_unrotated_plane_coords,
                       get_unrotated_plane_grid_points, rotations_to_grid_point_coords, round_to_int,
                       translate_images, translate_single_image)
from .indexing import (check_frequencies_in_bound, check_vec_indices_in_bound, check_vol_indices_in_bound,
                       distance_to_max_grid_dist, frequencies_to_vec_indices, frequencies_to_vol_indices,
                       vec_indices_to_frequencies, vec_indices_to_vol_indices, vol_indices_to_frequencies,
                       vol_indices_to_vec_indices)
from .slicing import (_AUTO, _default_max_r, adjoint_slice_volume, batch_adjoint_slice_volume, batch_slice_volume,
                      decide_order, precompute_cubic_coefficients, precompute_cubic_coefficients_half,
                      slice_from_cubic_coefficients, slice_volume)
