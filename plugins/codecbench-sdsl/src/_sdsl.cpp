// codecbench-sdsl: a small pybind11 binding of sdsl-lite's wavelet trees (wt_huff, wt_int) over
// rrr_vector<63> and plain bit_vector. Copyright the codecbench authors; GPL-3.0-or-later, as it
// links sdsl-lite (GPL-3+).
//
// The Python side (codecbench_sdsl/__init__.py) owns the payload header, the checksum and the
// argument errors; this module builds a tree, serializes it with sdsl's own serialize(), loads it
// back with sdsl's load() from a bounded in-memory stream, and answers queries, raising the
// documented IndexError/ValueError (codecbench.codecs.base) for bad arguments itself.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <sdsl/construct.hpp>
#include <sdsl/wavelet_trees.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <mutex>
#include <sstream>
#include <streambuf>
#include <string>
#include <vector>

namespace py = pybind11;

namespace {

using rrr63 = sdsl::rrr_vector<63>;
using bv_t = sdsl::bit_vector;

// wt_huff over an integer alphabet (sdsl's int_tree strategy: symbols are uint64 and the tree
// tables have max_symbol + 1 entries, so Python hands over dense codes 0..distinct-1 when the
// symbols are not dense already).
using wt_huff_rrr63 =
    sdsl::wt_huff<rrr63, rrr63::rank_1_type, rrr63::select_1_type, rrr63::select_0_type, sdsl::int_tree<>>;
using wt_huff_bv = sdsl::wt_huff<bv_t, bv_t::rank_1_type, bv_t::select_1_type, bv_t::select_0_type, sdsl::int_tree<>>;
using wt_int_rrr63 = sdsl::wt_int<rrr63>;
using wt_int_bv = sdsl::wt_int<bv_t>;

// sdsl's construct_im goes through its RAM file system and a global id counter: not thread-safe.
std::mutex construct_mutex;

// A read-only streambuf over caller memory; consumed() tells how far sdsl's load() read.
class MemBuf : public std::streambuf {
  public:
    MemBuf(const char* data, size_t size) {
        char* p = const_cast<char*>(data);
        setg(p, p, p + size);
    }
    size_t consumed() const { return static_cast<size_t>(gptr() - eback()); }
};

// Bits of the tree, and where node v's bits start in them: wt_int keeps its levels in the public
// `tree`, wt_pc its nodes in the public `bv` (a node's start is its bit_vec iterator's offset).
template <class BV, class R, class S1, class S0>
const BV& tree_bits(const sdsl::wt_int<BV, R, S1, S0>& wt) {
    return wt.tree;
}
template <class BV, class R, class S1, class S0>
uint64_t node_start(const sdsl::wt_int<BV, R, S1, S0>&, const typename sdsl::wt_int<BV, R, S1, S0>::node_type& v) {
    return v.offset;
}
template <class Shape, class BV, class R, class S1, class S0, class T>
const BV& tree_bits(const sdsl::wt_pc<Shape, BV, R, S1, S0, T>& wt) {
    return wt.bv;
}
template <class Shape, class BV, class R, class S1, class S0, class T>
uint64_t node_start(const sdsl::wt_pc<Shape, BV, R, S1, S0, T>& wt,
                    const typename sdsl::wt_pc<Shape, BV, R, S1, S0, T>::node_type& v) {
    return static_cast<uint64_t>(wt.bit_vec(v).begin() - wt.bv.begin());
}

// Bits per get_int in extract: rrr_vector<63> decodes whole 63-bit blocks, so reads stay within one.
template <class BV>
struct chunk_bits : std::integral_constant<uint64_t, 64> {};
template <>
struct chunk_bits<rrr63> : std::integral_constant<uint64_t, 63> {};

inline int64_t as_index(uint64_t v) { return static_cast<int64_t>(v); }

template <class WT>
class Tree {
  public:
    using node_type = typename WT::node_type;

    WT wt;
    uint64_t n = 0;
    uint64_t sigma = 1;              // the codec's alphabet size (symbols lie in [0, sigma))
    std::vector<uint32_t> dict;      // code -> symbol, ascending; empty: codes are the symbols

    // --- symbol <-> code ----------------------------------------------------------------
    uint64_t symbol(uint64_t code) const { return dict.empty() ? code : dict[code]; }

    // the code of symbol c, or -1 when c does not occur (rank 0, no select)
    int64_t code_of(int64_t c) const {
        if (dict.empty()) return c;
        auto it = std::lower_bound(dict.begin(), dict.end(), static_cast<uint32_t>(c));
        if (it == dict.end() || *it != static_cast<uint32_t>(c)) return -1;
        return it - dict.begin();
    }

    // --- queries ------------------------------------------------------------------------
    int64_t access(int64_t i) const {
        if (i < 0 || static_cast<uint64_t>(i) >= n) return -1;
        return as_index(symbol(wt[static_cast<uint64_t>(i)]));
    }

    // occurrences of c in [0, i); -1 for a bad argument
    int64_t rank(int64_t c, int64_t i) const {
        if (c < 0 || static_cast<uint64_t>(c) >= sigma || i < 0 || static_cast<uint64_t>(i) > n) return -1;
        if (i == 0) return 0;
        int64_t code = code_of(c);
        if (code < 0) return 0;
        return as_index(wt.rank(static_cast<uint64_t>(i), static_cast<uint64_t>(code)));
    }

    // position of the k-th c (k >= 1); -1 for a bad argument or k beyond the count
    int64_t select(int64_t c, int64_t k) const {
        int64_t total = rank(c, static_cast<int64_t>(n));
        if (total < 0 || k < 1 || k > total) return -1;
        return as_index(wt.select(static_cast<uint64_t>(k), static_cast<uint64_t>(code_of(c))));
    }

    // select for every k (each already checked to lie in [1, count of c]) into out
    void select_many(int64_t c, const int64_t* ks, size_t m, int64_t* out) const {
        uint64_t code = static_cast<uint64_t>(code_of(c));
        for (size_t j = 0; j < m; ++j) out[j] = as_index(wt.select(static_cast<uint64_t>(ks[j]), code));
    }

    // s[start, stop) into out: one top-down pass over the tree. P lists, in node order, the output
    // slots of the node's range; its bits (read 64 at a time) partition P stably into Q for the
    // two children, which then reuse P as their scratch (ping-pong: 2 * len indices in all).
    void extract(uint64_t start, uint64_t stop, uint32_t* out) const {
        size_t len = static_cast<size_t>(stop - start);
        if (len == 0) return;
        if (len <= 2) {
            for (size_t j = 0; j < len; ++j) out[j] = static_cast<uint32_t>(symbol(wt[start + j]));
            return;
        }
        std::vector<uint32_t> P(len), Q(len);
        for (size_t j = 0; j < len; ++j) P[j] = static_cast<uint32_t>(j);
        fill(wt.root(), start, P.data(), Q.data(), len, out);
    }

  private:
    void fill(const node_type& v, uint64_t lo, uint32_t* P, uint32_t* Q, size_t m, uint32_t* out) const {
        if (m == 0) return;
        if (wt.is_leaf(v)) {
            uint32_t s = static_cast<uint32_t>(symbol(wt.sym(v)));
            for (size_t j = 0; j < m; ++j) out[P[j]] = s;
            return;
        }
        auto ranges = wt.expand(v, sdsl::range_type{{lo, lo + m - 1}});
        size_t m0 = static_cast<size_t>(ranges[0][1] - ranges[0][0] + 1);  // 0 when the range wraps
        if (m0 > m) throw std::runtime_error("sdsl: node ranges are inconsistent");
        const auto& bits = tree_bits(wt);
        uint64_t at = node_start(wt, v) + lo;
        uint32_t* dst[2] = {Q, Q + m0};
        constexpr uint64_t block = chunk_bits<std::decay_t<decltype(bits)>>::value;
        for (size_t j = 0, k = 0; j < m; j += k) {
            // chunks end on the bit vector's block grid: one rrr block decoded per get_int
            k = std::min<size_t>(block - (at + j) % block, m - j);
            uint64_t w = bits.get_int(at + j, static_cast<uint8_t>(k));
            const uint32_t* src = P + j;
            for (size_t t = 0; t < k; ++t, w >>= 1) *dst[w & 1]++ = src[t];
        }
        if (dst[0] != Q + m0 || dst[1] != Q + m) throw std::runtime_error("sdsl: node bits and ranks disagree");
        auto children = wt.expand(v);
        fill(children[0], ranges[0][0], Q, P, m0, out);
        fill(children[1], ranges[1][0], Q + m0, P + m0, m - m0, out);
    }
};

template <class WT>
py::bytes build(py::array_t<uint32_t, py::array::c_style | py::array::forcecast> codes) {
    auto r = codes.template unchecked<1>();
    size_t n = static_cast<size_t>(r.shape(0));
    if (n == 0) return py::bytes("");
    uint32_t top = 1;
    for (size_t i = 0; i < n; ++i) top = std::max(top, r(i));
    sdsl::int_vector<> iv(n, 0, static_cast<uint8_t>(sdsl::bits::hi(top) + 1));
    for (size_t i = 0; i < n; ++i) iv[i] = r(i);
    WT wt;
    {
        // what sdsl::construct_im does, with an input buffer sized to the input (its default 1 MiB
        // buffer costs milliseconds per small sequence)
        py::gil_scoped_release release;
        std::lock_guard<std::mutex> lock(construct_mutex);
        std::string file = sdsl::ram_file_name(sdsl::util::to_string(sdsl::util::pid()) + "_" +
                                               sdsl::util::to_string(sdsl::util::id()) + "_codecbench");
        sdsl::store_to_file(iv, file);
        {
            uint64_t buffer = std::min<uint64_t>(1 << 20, 64 + (static_cast<uint64_t>(n) * iv.width() + 7) / 8);
            sdsl::int_vector_buffer<0> text(file, std::ios::in, buffer, 0, false);
            WT tmp(text, text.size());
            wt.swap(tmp);
        }
        sdsl::ram_fs::remove(file);
    }
    if (wt.size() != n) throw std::runtime_error("sdsl: construction lost symbols");
    std::ostringstream os;
    wt.serialize(os);
    return py::bytes(os.str());
}

// Load a serialized tree: the blob must be read to its last byte and describe n symbols over
// `distinct` leaves; anything else (or any exception from sdsl) is a ValueError for Python.
template <class WT>
Tree<WT>* load(py::buffer blob, uint64_t n, uint64_t sigma, uint64_t distinct, uint32_t max_level,
               py::array_t<uint32_t, py::array::c_style | py::array::forcecast> dict) {
    py::buffer_info info = blob.request();
    auto tree = std::make_unique<Tree<WT>>();
    tree->n = n;
    tree->sigma = sigma;
    auto d = dict.template unchecked<1>();
    tree->dict.assign(d.data(0), d.data(0) + d.shape(0));
    size_t size = static_cast<size_t>(info.size * info.itemsize);
    if (n == 0) {
        if (size != 0) throw py::value_error("a tree of 0 symbols has no sdsl bytes");
        return tree.release();
    }
    MemBuf buf(static_cast<const char*>(info.ptr), size);
    std::istream in(&buf);
    try {
        tree->wt.load(in);
    } catch (const std::exception& exc) {
        throw py::value_error(std::string("sdsl load failed: ") + exc.what());
    }
    if (!in || buf.consumed() != size)
        throw py::value_error("sdsl load read " + std::to_string(buf.consumed()) + " of " + std::to_string(size) +
                              " bytes");
    if (tree->wt.size() != n)
        throw py::value_error("sdsl tree holds " + std::to_string(tree->wt.size()) + " symbols, header says " +
                              std::to_string(n));
    if (tree->wt.sigma != distinct)
        throw py::value_error("sdsl tree has " + std::to_string(tree->wt.sigma) + " leaves, header says " +
                              std::to_string(distinct));
    if constexpr (std::is_same_v<WT, wt_int_rrr63> || std::is_same_v<WT, wt_int_bv>) {
        if (tree->wt.max_level > max_level)
            throw py::value_error("sdsl tree has " + std::to_string(tree->wt.max_level) + " levels, at most " +
                                  std::to_string(max_level) + " fit the alphabet");
    }
    return tree.release();
}

// A Python int (or anything with __index__) as int64; false when it does not fit (an argument
// that far out is out of range like any other bad one). Floats raise TypeError, as numpy does.
bool to_i64(py::handle h, int64_t& out) {
    PyObject* idx = PyNumber_Index(h.ptr());
    if (idx == nullptr) throw py::error_already_set();
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(idx, &overflow);
    Py_DECREF(idx);
    if (overflow == 0 && v == -1 && PyErr_Occurred()) throw py::error_already_set();
    out = static_cast<int64_t>(v);
    return overflow == 0;
}

std::string show(py::handle h) { return py::str(h).cast<std::string>(); }

// The documented errors of codecbench.codecs.base.Sequence, with its messages.
template <class T>
int64_t checked_symbol(const T& t, py::handle c) {
    int64_t v = 0;
    if (!to_i64(c, v) || v < 0 || static_cast<uint64_t>(v) >= t.sigma)
        throw py::value_error("symbol " + show(c) + " out of alphabet [0, " + std::to_string(t.sigma) + ")");
    return v;
}

template <class WT>
void bind(py::module_& m, const char* name) {
    using T = Tree<WT>;
    py::class_<T>(m, name)
        .def_static("build", &build<WT>, py::arg("codes"), "serialized sdsl tree of the uint32 codes")
        .def_static("load", &load<WT>, py::arg("blob"), py::arg("n"), py::arg("sigma"), py::arg("distinct"),
                    py::arg("max_level"), py::arg("dict"), py::return_value_policy::take_ownership)
        .def("__len__", [](const T& t) { return t.n; })
        .def(
            "access",
            [](const T& t, py::handle i) {
                int64_t v = 0;
                if (!to_i64(i, v) || v < 0 || static_cast<uint64_t>(v) >= t.n)
                    throw py::index_error("position " + show(i) + " out of range [0, " + std::to_string(t.n) + ")");
                return t.access(v);
            },
            py::arg("i"))
        .def(
            "rank",
            [](const T& t, py::handle c, py::handle i) {
                int64_t cv = checked_symbol(t, c), iv = 0;
                if (!to_i64(i, iv) || iv < 0 || static_cast<uint64_t>(iv) > t.n)
                    throw py::index_error("rank position " + show(i) + " out of range [0, " + std::to_string(t.n) +
                                          "]");
                return t.rank(cv, iv);
            },
            py::arg("c"), py::arg("i"))
        .def(
            "select",
            [](const T& t, py::handle c, py::handle k) {
                int64_t cv = checked_symbol(t, c), kv = 0;
                bool fits = to_i64(k, kv);
                int64_t found = fits ? t.select(cv, kv) : -1;
                if (found < 0) {
                    int64_t total = t.rank(cv, static_cast<int64_t>(t.n));
                    throw py::index_error("select(" + std::to_string(cv) + ", " + show(k) + "): symbol " +
                                          std::to_string(cv) + " occurs " + std::to_string(total) +
                                          " times (k must be in [1, " + std::to_string(total) + "])");
                }
                return found;
            },
            py::arg("c"), py::arg("k"))
        .def(
            "select_many",
            [](const T& t, int64_t c, py::array_t<int64_t, py::array::c_style | py::array::forcecast> ks) {
                auto r = ks.template unchecked<1>();
                size_t m = static_cast<size_t>(r.shape(0));
                int64_t total = t.rank(c, static_cast<int64_t>(t.n));
                for (size_t j = 0; j < m; ++j)
                    if (total < 0 || r(j) < 1 || r(j) > total) throw py::index_error("select_many: k out of range");
                py::array_t<int64_t> out(static_cast<py::ssize_t>(m));
                t.select_many(c, m ? r.data(0) : nullptr, m, out.mutable_data());
                return out;
            },
            py::arg("c"), py::arg("ks"), "select for every k (Python checks the arguments first)")
        .def(
            "extract",
            [](const T& t, py::handle start, py::handle stop) {
                int64_t a = 0, b = 0;
                bool fits = to_i64(start, a);
                fits = to_i64(stop, b) && fits;
                if (!fits || a < 0 || b < a || static_cast<uint64_t>(b) > t.n)
                    throw py::index_error("extract range [" + show(start) + ", " + show(stop) + ") not within [0, " +
                                          std::to_string(t.n) + "]");
                py::array_t<uint32_t> out(static_cast<py::ssize_t>(b - a));
                uint32_t* o = out.mutable_data();
                if (b - a > 4096) {
                    py::gil_scoped_release release;
                    t.extract(static_cast<uint64_t>(a), static_cast<uint64_t>(b), o);
                } else {
                    t.extract(static_cast<uint64_t>(a), static_cast<uint64_t>(b), o);
                }
                return out;
            },
            py::arg("start"), py::arg("stop"))
        .def_property_readonly("size_in_bytes", [](const T& t) { return sdsl::size_in_bytes(t.wt); })
        .def_property_readonly("levels", [](const T& t) -> uint64_t {
            if constexpr (std::is_same_v<WT, wt_int_rrr63> || std::is_same_v<WT, wt_int_bv>) {
                return t.wt.max_level;
            } else {
                return 0;
            }
        });
}

}  // namespace

PYBIND11_MODULE(_sdsl, m) {
    m.doc() = "sdsl-lite wavelet trees (wt_huff, wt_int over rrr_vector<63> / bit_vector) for codecbench-sdsl";
    bind<wt_huff_rrr63>(m, "WtHuffRrr63");
    bind<wt_huff_bv>(m, "WtHuffBv");
    bind<wt_int_rrr63>(m, "WtIntRrr63");
    bind<wt_int_bv>(m, "WtIntBv");
    m.attr("SDSL_VERSION") = "2.1";
}
