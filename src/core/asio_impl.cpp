// Boost.Asio's and Boost.Beast's non-template code, compiled once here instead of in every
// translation unit that includes them (BOOST_ASIO_SEPARATE_COMPILATION and
// BOOST_BEAST_SEPARATE_COMPILATION are set for the whole project, CMakeLists.txt). Every target
// whose sources include Asio or Beast links cg_asio.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
