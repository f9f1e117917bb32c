# libwebsockets 4.1.6 from Debian's source package, built static against
# mbedTLS.  The tarball is fetched once by packaging/scripts/fetch-lws.sh into
# RVPN_CACHE_DIR; the build lives in this build tree and is not redone on a
# rebuild (ExternalProject stamps).  See ../shared/notes/libwebsockets-mbedtls.md.
include(ExternalProject)

if(DEFINED ENV{RVPN_CACHE_DIR})
  set(RVPN_CACHE_DIR_DEFAULT "$ENV{RVPN_CACHE_DIR}")
else()
  set(RVPN_CACHE_DIR_DEFAULT "$ENV{HOME}/.cache/rvpn")
endif()
set(RVPN_CACHE_DIR "${RVPN_CACHE_DIR_DEFAULT}" CACHE PATH "Download cache for third-party sources")
# The lws build runs its own ninja/make; cap it (shared 2-core machines).
set(RVPN_LWS_JOBS 2 CACHE STRING "Parallel jobs for the libwebsockets build")
set(RVPN_LWS_TARBALL "${RVPN_CACHE_DIR}/libwebsockets_4.1.6.orig.tar.gz")
set(RVPN_LWS_SHA256 402e9a8df553c9cd2aff5d7a9758e9e5285bf3070c82539082864633db3deb83)
if(NOT EXISTS "${RVPN_LWS_TARBALL}")
  execute_process(COMMAND ${CMAKE_SOURCE_DIR}/packaging/scripts/fetch-lws.sh "${RVPN_CACHE_DIR}"
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "could not fetch the libwebsockets source (packaging/scripts/fetch-lws.sh)")
  endif()
endif()

set(RVPN_LWS_PREFIX ${CMAKE_BINARY_DIR}/_deps/lws)
# Our patches (packaging/lws-patches/README.md), applied in name order by
# packaging/scripts/apply-lws-patches.sh.  lws-patches.list names them with
# their hashes and changes only when they do: the download step depends on it,
# so adding, changing or removing a patch re-extracts the pristine source
# (with fresh timestamps, so every lws object is rebuilt from it).
file(GLOB RVPN_LWS_PATCHES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/packaging/lws-patches/*.patch)
list(SORT RVPN_LWS_PATCHES)
set(RVPN_LWS_PATCH_LIST "")
foreach(p IN LISTS RVPN_LWS_PATCHES ITEMS ${CMAKE_SOURCE_DIR}/packaging/scripts/apply-lws-patches.sh)
  file(SHA256 ${p} h)
  get_filename_component(n ${p} NAME)
  string(APPEND RVPN_LWS_PATCH_LIST "${h}  ${n}\n")
endforeach()
file(CONFIGURE OUTPUT ${RVPN_LWS_PREFIX}/lws-patches.list CONTENT "${RVPN_LWS_PATCH_LIST}")
# An edited patch re-runs cmake, which updates the list.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  ${RVPN_LWS_PATCHES} ${CMAKE_SOURCE_DIR}/packaging/scripts/apply-lws-patches.sh)

ExternalProject_Add(lws_ext
  URL "${RVPN_LWS_TARBALL}"
  URL_HASH SHA256=${RVPN_LWS_SHA256}
  DOWNLOAD_EXTRACT_TIMESTAMP OFF
  PREFIX ${RVPN_LWS_PREFIX}
  PATCH_COMMAND ${CMAKE_SOURCE_DIR}/packaging/scripts/apply-lws-patches.sh
      ${CMAKE_SOURCE_DIR}/packaging/lws-patches <SOURCE_DIR>
  CMAKE_ARGS
    -DCMAKE_INSTALL_PREFIX=${RVPN_LWS_PREFIX}/install
    -DCMAKE_C_COMPILER=${CMAKE_C_COMPILER}
    -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_C_FLAGS=-Wno-error
    # lws stamps its version with `git describe` of its source dir, which lies
    # inside our checkout: name the real source instead (and stay reproducible).
    -DCMAKE_DISABLE_FIND_PACKAGE_Git=ON -DLWS_BUILD_HASH=debian-4.1.6-3
    -DLWS_WITH_MBEDTLS=ON -DLWS_WITH_SSL=ON
    -DLWS_WITH_STATIC=ON -DLWS_WITH_SHARED=OFF -DLWS_STATIC_PIC=ON
    -DLWS_WITHOUT_TESTAPPS=ON -DLWS_WITHOUT_TEST_SERVER=ON -DLWS_WITHOUT_TEST_SERVER_EXTPOLL=ON
    -DLWS_WITHOUT_TEST_PING=ON -DLWS_WITHOUT_TEST_CLIENT=ON -DLWS_WITH_MINIMAL_EXAMPLES=OFF
    -DLWS_WITH_HTTP2=OFF -DLWS_WITH_LIBUV=OFF -DLWS_WITH_LIBEV=OFF -DLWS_WITH_LIBEVENT=OFF
    -DLWS_WITH_GLIB=OFF -DLWS_WITH_EVLIB_PLUGINS=OFF -DLWS_WITH_PLUGINS_API=OFF
    -DLWS_ROLE_RAW_FILE=ON -DLWS_ROLE_WS=ON -DLWS_ROLE_H1=ON -DLWS_WITHOUT_CLIENT=OFF -DLWS_WITHOUT_SERVER=OFF
    -DLWS_WITHOUT_EXTENSIONS=ON -DLWS_WITH_ZLIB=OFF -DLWS_IPV6=ON -DLWS_UNIX_SOCK=OFF -DLWS_WITH_UDP=OFF
    -DLWS_WITH_LEJP=OFF -DLWS_WITH_LEJP_CONF=OFF -DLWS_WITH_DIR=OFF -DLWS_WITH_SYS_SMD=OFF
    -DLWS_WITH_SYS_STATE=OFF -DLWS_WITH_HTTP_BASIC_AUTH=OFF -DLWS_WITH_HTTP_UNCOMMON_HEADERS=OFF
    -DLWS_WITH_CUSTOM_HEADERS=OFF -DLWS_CLIENT_HTTP_PROXYING=OFF -DLWS_WITH_EXPORT_LWSTARGETS=OFF
    -DLWS_CTEST_INTERNET_AVAILABLE=OFF -DLWS_HAVE_LIBCAP=OFF -DLWS_WITH_LWSAC=OFF -DLWS_WITH_FILE_OPS=OFF
    # rvpn runs lws on its own epoll set (common/loop/lws_loop.c)
    -DLWS_WITH_EXTERNAL_POLL=ON
  # Install from the build step: the library is that step's byproduct, so a
  # rebuilt lws relinks our programs in the same build (with a separate
  # install step, ninja's restat after the build step saw the old installed
  # library and skipped the relink until the next build).
  BUILD_COMMAND ${CMAKE_COMMAND} --build <BINARY_DIR> --parallel ${RVPN_LWS_JOBS} --target install
  INSTALL_COMMAND ""
  BUILD_BYPRODUCTS ${RVPN_LWS_PREFIX}/install/lib/libwebsockets.a
)

file(MAKE_DIRECTORY ${RVPN_LWS_PREFIX}/install/include)
ExternalProject_Add_StepDependencies(lws_ext download ${RVPN_LWS_PREFIX}/lws-patches.list)

add_library(rvpn::lws STATIC IMPORTED GLOBAL)
set_target_properties(rvpn::lws PROPERTIES
  IMPORTED_LOCATION ${RVPN_LWS_PREFIX}/install/lib/libwebsockets.a
  INTERFACE_INCLUDE_DIRECTORIES ${RVPN_LWS_PREFIX}/install/include
  INTERFACE_LINK_LIBRARIES "mbedtls;mbedx509;mbedcrypto;pthread")
add_dependencies(rvpn::lws lws_ext)
