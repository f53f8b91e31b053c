# The C library's dependencies, all from Debian packages (README, tools/install-deps.sh). Included
# by the project's CMakeLists and by python/CMakeLists.txt's standalone build (which links a
# prebuilt libcopyscope.a), so the two can never disagree. CS_LIBRARY_DEPS: what links with it.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS C)
find_package(PNG REQUIRED)
find_package(JPEG REQUIRED)
find_package(ZLIB REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(HDF5 REQUIRED COMPONENTS C)
pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)
pkg_check_modules(LAPACKE REQUIRED IMPORTED_TARGET lapacke)
pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)
# WebP (libwebp + the animation decoder in libwebpdemux) and TIFF: the image formats PIL reads
pkg_check_modules(WEBP REQUIRED IMPORTED_TARGET libwebp libwebpdemux)
pkg_check_modules(TIFF REQUIRED IMPORTED_TARGET libtiff-4>=4.5)
set(CS_LIBRARY_DEPS
  PNG::PNG JPEG::JPEG ZLIB::ZLIB PkgConfig::WEBP PkgConfig::TIFF OpenSSL::Crypto ${HDF5_C_LIBRARIES}
  PkgConfig::OPENBLAS PkgConfig::LAPACKE PkgConfig::CJSON PkgConfig::LIBZIP
  OpenMP::OpenMP_C Threads::Threads m ${CMAKE_DL_LIBS})
