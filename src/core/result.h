// Result<T>: a value or an Error, returned across every part's boundary.
//
// The project builds with GCC 12 (C++23, std::expected available) and with clang 14 for the
// fuzz targets (whose libstdc++ <expected> needs newer concepts support), so Result is a small
// type of our own with the std::expected surface we use: has_value, value, error, *, ->.
#pragma once

#include <cassert>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace cg {

// A failure: a stable number, a stable symbolic name and a sentence a person can act on.
struct Error {
  int code = 0;         // stable number; part * 1000 + n (see docs/error-codes.md)
  std::string name;     // stable symbolic name, e.g. "conditions.audience"
  std::string message;  // what was expected and what arrived
};

template <class E>
struct Unexpected {
  E error;
};

inline Unexpected<Error> fail(int code, std::string name, std::string message) {
  return Unexpected<Error>{Error{code, std::move(name), std::move(message)}};
}
inline Unexpected<Error> fail(Error e) { return Unexpected<Error>{std::move(e)}; }

// Each part has an `enum class Code` with stable numbers and a `code_name(Code)` beside it
// (found by argument-dependent lookup): these build its errors.
template <class CodeEnum>
requires std::is_enum_v<CodeEnum> Error make_error(CodeEnum c, std::string message) {
  return Error{static_cast<int>(c), code_name(c), std::move(message)};
}
template <class CodeEnum>
requires std::is_enum_v<CodeEnum> Unexpected<Error> fail(CodeEnum c, std::string message) {
  return Unexpected<Error>{make_error(c, std::move(message))};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Unexpected<Error> e) : v_(std::in_place_index<1>, std::move(e.error)) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }
  Error&& take_error() { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Unexpected<Error> e) : err_(std::move(e.error)), ok_(false) {}  // NOLINT

  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return err_; }
  Error&& take_error() { return std::move(err_); }

 private:
  Error err_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace cg

// Propagates an error from an expression returning Result<...>; binds the value otherwise.
#define CG_CONCAT_INNER(a, b) a##b
#define CG_CONCAT(a, b) CG_CONCAT_INNER(a, b)
#define CG_TRY_IMPL(tmp, decl, expr)                         \
  auto tmp = (expr);                                         \
  if (!tmp.has_value()) return ::cg::fail(tmp.take_error()); \
  decl = std::move(*tmp)
#define CG_TRY(decl, expr) CG_TRY_IMPL(CG_CONCAT(cg_try_, __LINE__), decl, expr)
#define CG_CHECK(expr)                                                                 \
  do {                                                                                 \
    auto cg_check_result = (expr);                                                     \
    if (!cg_check_result.has_value()) return ::cg::fail(cg_check_result.take_error()); \
  } while (0)
