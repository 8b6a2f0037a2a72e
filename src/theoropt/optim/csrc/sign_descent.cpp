// The fused sign-descent step of Signum / SoftSignum on the CPU, written by hand
// (theoropt/optim/native_kernel.py builds it and states the update; fused.py has the same update
// as torch operations for inductor, and both are tested against the multi-tensor path).
//
// Per entry, with the momentum buffer m (none when momentum is 0):
//   m <- beta m + c g;  d = s g + beta m (Nesterov), m, or s g (no momentum)
//   u = sign(d), or the odd rational z P(z^2) / Q(z^2), or z / sqrt(1 + z^2), z = clamp(tau d)
//   p <- decay p - lr (u + (d - d))      (d - d: a NaN or inf direction makes p NaN)
// c, s and decay are multiplied only where they differ from 1 (kScaled, kDecayed).
//
// One pass over each tensor: read p, g, m; write p, m (5 words an entry). The pointers are
// __restrict and the scalars travel by value, so the compiler keeps them in registers.

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

constexpr int64_t kGrainSize = 32768;  // entries a thread takes at least (ATen's GRAIN_SIZE)

enum class Direction : int64_t { kSign = 0, kOddRational = 1, kAlgebraic = 2 };
enum class Momentum : int64_t { kNone = 0, kPlain = 1, kNesterov = 2 };

template <typename T>
struct Settings {
  T decay, lr, beta, c, s, tau;
  T bound;            // |tau d| is clamped to it (soft maps)
  T num[5], den[5];   // the odd rational's P and Q, coefficients of z^0 .. z^8 (in z^2)
};

// The settings as vectors, built once per range of entries (kept in registers).
template <typename T>
struct Vectors {
  using Vec = at::vec::Vectorized<T>;
  Vec decay, lr, beta, c, s, tau, low, high, one, zero, num[5], den[5];
  explicit Vectors(const Settings<T>& k)
      : decay(k.decay), lr(k.lr), beta(k.beta), c(k.c), s(k.s), tau(k.tau), low(-k.bound),
        high(k.bound), one(T(1)), zero(T(0)) {
    for (int j = 0; j < 5; ++j) {
      num[j] = Vec(k.num[j]);
      den[j] = Vec(k.den[j]);
    }
  }
};

template <typename T, Direction kMap>
inline at::vec::Vectorized<T> direction_map(const at::vec::Vectorized<T>& d, const Vectors<T>& v) {
  using Vec = at::vec::Vectorized<T>;
  if constexpr (kMap == Direction::kSign) {
    return ((d > v.zero) & v.one) - ((d < v.zero) & v.one);
  } else {
    const Vec z = at::vec::clamp(d * v.tau, v.low, v.high);
    if constexpr (kMap == Direction::kOddRational) {
      // Estrin's scheme in x = z^2, as soft_maps._estrin
      const Vec x = z * z, x2 = x * x;
      const Vec num = at::vec::fmadd(
          x2, at::vec::fmadd(x2, v.num[4], at::vec::fmadd(x, v.num[3], v.num[2])),
          at::vec::fmadd(x, v.num[1], v.num[0]));
      const Vec den = at::vec::fmadd(
          x2, at::vec::fmadd(x2, v.den[4], at::vec::fmadd(x, v.den[3], v.den[2])),
          at::vec::fmadd(x, v.den[1], v.den[0]));
      return z * num / den;
    } else {
      return z * at::vec::fmadd(z, z, v.one).rsqrt();
    }
  }
}

// One vector of entries at p, g, m (m unused without momentum).
template <typename T, Direction kMap, Momentum kMomentum, bool kDecayed, bool kScaled>
inline void update_vector(T* __restrict p, const T* __restrict g, T* __restrict m,
                          const Vectors<T>& v) {
  using Vec = at::vec::Vectorized<T>;
  const Vec grad = Vec::loadu(g);
  const Vec signed_grad = kScaled ? grad * v.s : grad;
  Vec d = signed_grad;
  if constexpr (kMomentum != Momentum::kNone) {
    const Vec mom = at::vec::fmadd(Vec::loadu(m), v.beta, kScaled ? grad * v.c : grad);
    mom.store(m);
    d = kMomentum == Momentum::kNesterov ? at::vec::fmadd(mom, v.beta, signed_grad) : mom;
  }
  const Vec u = direction_map<T, kMap>(d, v) + (d - d);
  Vec param = Vec::loadu(p);
  if constexpr (kDecayed) param = param * v.decay;
  at::vec::fnmadd(u, v.lr, param).store(p);
}

// Entries [begin, end) of one tensor; the last partial vector goes through padded copies.
template <typename T, Direction kMap, Momentum kMomentum, bool kDecayed, bool kScaled>
void update_range(T* __restrict p, const T* __restrict g, T* __restrict m, int64_t begin,
                  int64_t end, const Settings<T>& k) {
  constexpr int64_t width = at::vec::Vectorized<T>::size();
  constexpr bool has_m = kMomentum != Momentum::kNone;
  const Vectors<T> v(k);
  int64_t i = begin;
  for (; i + width <= end; i += width) {
    update_vector<T, kMap, kMomentum, kDecayed, kScaled>(p + i, g + i, has_m ? m + i : nullptr, v);
  }
  const int64_t rest = end - i;
  if (rest > 0) {
    T pad_p[width] = {}, pad_g[width] = {}, pad_m[width] = {};
    std::memcpy(pad_p, p + i, rest * sizeof(T));
    std::memcpy(pad_g, g + i, rest * sizeof(T));
    if (has_m) std::memcpy(pad_m, m + i, rest * sizeof(T));
    update_vector<T, kMap, kMomentum, kDecayed, kScaled>(pad_p, pad_g, pad_m, v);
    std::memcpy(p + i, pad_p, rest * sizeof(T));
    if (has_m) std::memcpy(m + i, pad_m, rest * sizeof(T));
  }
}

// All the tensors as one range of entries split over the threads in one parallel region (a
// region per tensor wakes the threads once per tensor: most tensors of a model are small).
template <typename T, Direction kMap, Momentum kMomentum, bool kDecayed, bool kScaled>
void update_tensors(at::TensorList params, at::TensorList grads, at::TensorList buffers,
                    const Settings<T>& k) {
  const size_t count = params.size();
  std::vector<int64_t> offsets(count + 1, 0);
  std::vector<T*> p(count), m(count, nullptr);
  std::vector<const T*> g(count);
  for (size_t i = 0; i < count; ++i) {
    offsets[i + 1] = offsets[i] + params[i].numel();
    p[i] = params[i].data_ptr<T>();
    g[i] = grads[i].data_ptr<T>();
    if (kMomentum != Momentum::kNone) m[i] = buffers[i].data_ptr<T>();
  }
  at::parallel_for(0, offsets[count], kGrainSize, [&](int64_t begin, int64_t end) {
    // the tensor holding entry `begin`: the last offset at or below it
    size_t i = std::upper_bound(offsets.begin(), offsets.end(), begin) - offsets.begin() - 1;
    for (; begin < end; ++i) {
      const int64_t stop = std::min(end, offsets[i + 1]);
      update_range<T, kMap, kMomentum, kDecayed, kScaled>(p[i], g[i], m[i], begin - offsets[i],
                                                          stop - offsets[i], k);
      begin = stop;
    }
  });
}

// The template arguments from run-time values, one at a time.
template <typename T, Direction kMap, Momentum kMomentum, bool kDecayed>
void with_scaled(bool scaled, at::TensorList params, at::TensorList grads,
                 at::TensorList buffers, const Settings<T>& k) {
  if (scaled) {
    update_tensors<T, kMap, kMomentum, kDecayed, true>(params, grads, buffers, k);
  } else {
    update_tensors<T, kMap, kMomentum, kDecayed, false>(params, grads, buffers, k);
  }
}

template <typename T, Direction kMap, Momentum kMomentum>
void with_decayed(bool decayed, bool scaled, at::TensorList params, at::TensorList grads,
                  at::TensorList buffers, const Settings<T>& k) {
  if (decayed) {
    with_scaled<T, kMap, kMomentum, true>(scaled, params, grads, buffers, k);
  } else {
    with_scaled<T, kMap, kMomentum, false>(scaled, params, grads, buffers, k);
  }
}

template <typename T, Direction kMap>
void with_momentum(Momentum momentum, bool decayed, bool scaled, at::TensorList params,
                   at::TensorList grads, at::TensorList buffers, const Settings<T>& k) {
  switch (momentum) {
    case Momentum::kNone:
      return with_decayed<T, kMap, Momentum::kNone>(decayed, scaled, params, grads, buffers, k);
    case Momentum::kPlain:
      return with_decayed<T, kMap, Momentum::kPlain>(decayed, scaled, params, grads, buffers, k);
    case Momentum::kNesterov:
      return with_decayed<T, kMap, Momentum::kNesterov>(decayed, scaled, params, grads, buffers,
                                                        k);
  }
}

template <typename T>
void with_direction(Direction map, Momentum momentum, bool decayed, bool scaled,
                    at::TensorList params, at::TensorList grads, at::TensorList buffers,
                    const Settings<T>& k) {
  switch (map) {
    case Direction::kSign:
      return with_momentum<T, Direction::kSign>(momentum, decayed, scaled, params, grads, buffers,
                                               k);
    case Direction::kOddRational:
      return with_momentum<T, Direction::kOddRational>(momentum, decayed, scaled, params, grads,
                                                      buffers, k);
    case Direction::kAlgebraic:
      return with_momentum<T, Direction::kAlgebraic>(momentum, decayed, scaled, params, grads,
                                                    buffers, k);
  }
}

template <typename T>
Settings<T> settings_from(c10::ArrayRef<double> scalars, c10::ArrayRef<double> map_values) {
  Settings<T> k{};
  k.decay = T(scalars[0]);
  k.lr = T(scalars[1]);
  k.beta = T(scalars[2]);
  k.c = T(scalars[3]);
  k.s = T(scalars[4]);
  k.tau = T(scalars[5]);
  if (!map_values.empty()) k.bound = T(map_values[0]);
  if (map_values.size() == 11) {
    for (int j = 0; j < 5; ++j) {
      k.num[j] = T(map_values[1 + j]);
      k.den[j] = T(map_values[6 + j]);
    }
  }
  return k;
}

// The bytes [begin, end) of a dense tensor; `written` for parameters and buffers.
struct Span {
  uintptr_t begin, end;
  bool written;
};

// Whether no written span overlaps another span (gradients, only read, may share memory): the
// kernel's pointers are __restrict, and a parameter twice in a group (torch.optim only warns)
// would be updated by two threads at once.
bool disjoint(std::vector<Span> spans) {
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin < b.begin; });
  uintptr_t reach = 0, written_reach = 0;  // the furthest end so far: of any span, of a written
  for (const Span& span : spans) {
    if (span.begin < written_reach || (span.written && span.begin < reach)) return false;
    reach = std::max(reach, span.end);
    if (span.written) written_reach = std::max(written_reach, span.end);
  }
  return true;
}

// Whether every (parameter, gradient, buffer) triple can be read as one flat array: CPU,
// float32 or float64 alike, the same sizes and strides, non-overlapping and dense, and no
// parameter or buffer sharing memory with any other tensor of the call.
bool fits(at::TensorList params, at::TensorList grads, at::TensorList buffers, bool momentum) {
  if (params.empty()) return false;
  const auto dtype = params[0].scalar_type();
  if (dtype != at::kFloat && dtype != at::kDouble) return false;
  std::vector<Span> spans;
  const auto add_span = [&spans](const at::Tensor& t, bool written) {
    if (t.numel() == 0) return;
    const auto begin = reinterpret_cast<uintptr_t>(t.data_ptr());
    const auto bytes = static_cast<uintptr_t>(t.numel() * t.element_size());
    spans.push_back({begin, begin + bytes, written});
  };
  for (size_t i = 0; i < params.size(); ++i) {
    const at::Tensor& p = params[i];
    if (!p.device().is_cpu() || p.scalar_type() != dtype || !p.is_non_overlapping_and_dense()) {
      return false;
    }
    add_span(p, true);
    for (const at::Tensor* t : {&grads[i], momentum ? &buffers[i] : nullptr}) {
      if (t == nullptr) continue;
      if (!t->device().is_cpu() || t->scalar_type() != dtype || t->sizes() != p.sizes() ||
          t->strides() != p.strides()) {
        return false;
      }
      add_span(*t, t != &grads[i]);
    }
  }
  return disjoint(std::move(spans));
}

// Returns false, touching nothing, when the tensors do not fit (the caller takes another path).
bool sign_descent_(at::TensorList params, at::TensorList grads, at::TensorList buffers,
                   c10::ArrayRef<double> scalars, c10::ArrayRef<double> map_values,
                   int64_t direction, int64_t momentum, bool decayed, bool scaled) {
  TORCH_CHECK(scalars.size() == 6, "sign_descent_: 6 scalars expected");
  TORCH_CHECK(grads.size() == params.size(), "sign_descent_: one gradient per parameter");
  TORCH_CHECK(direction >= 0 && direction <= 2 && momentum >= 0 && momentum <= 2,
              "sign_descent_: unknown direction or momentum code");
  const auto momentum_code = static_cast<Momentum>(momentum);
  const bool has_momentum = momentum_code != Momentum::kNone;
  TORCH_CHECK(!has_momentum || buffers.size() == params.size(),
              "sign_descent_: one momentum buffer per parameter");
  TORCH_CHECK(direction == 0 || map_values.size() == (direction == 1 ? 11 : 1),
              "sign_descent_: wrong number of soft-map values");
  if (!fits(params, grads, buffers, has_momentum)) return false;
  const auto map = static_cast<Direction>(direction);
  if (params[0].scalar_type() == at::kFloat) {
    with_direction<float>(map, momentum_code, decayed, scaled, params, grads, buffers,
                          settings_from<float>(scalars, map_values));
  } else {
    with_direction<double>(map, momentum_code, decayed, scaled, params, grads, buffers,
                           settings_from<double>(scalars, map_values));
  }
  return true;
}

}  // namespace

TORCH_LIBRARY(theoropt, m) {
  m.def(
      "sign_descent_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] buffers, float[] scalars, "
      "float[] map_values, int direction, int momentum, bool decayed, bool scaled) -> bool");
}

TORCH_LIBRARY_IMPL(theoropt, CPU, m) { m.impl("sign_descent_", &sign_descent_); }
