# CUDA is optional: on when nvcc is found (override with -DLIGER_CUDA=ON/OFF).
# LIGER_CUDA_ARCHITECTURES lists the per-architecture builds.
set(LIGER_CUDA "AUTO" CACHE STRING "Build CUDA kernels: ON, OFF or AUTO")
set(LIGER_CUDA_ARCHITECTURES "80;86;89;90a" CACHE STRING "CUDA architectures to build")
set(LIGER_CUDA_ENABLED OFF)
if(NOT LIGER_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    set(LIGER_CUDA_ENABLED ON)
  elseif(LIGER_CUDA STREQUAL "ON")
    message(FATAL_ERROR "LIGER_CUDA=ON but no CUDA compiler (nvcc) was found")
  endif()
endif()
message(STATUS "Liger CUDA kernels: ${LIGER_CUDA_ENABLED}")

function(liger_cuda_flags target)
  set_target_properties(${target} PROPERTIES
    CUDA_ARCHITECTURES "${LIGER_CUDA_ARCHITECTURES}"
    CUDA_SEPARABLE_COMPILATION OFF
    CUDA_RUNTIME_LIBRARY Static)
  target_compile_definitions(${target} PRIVATE LIGER_WITH_CUDA=1)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-O3 --use_fast_math -lineinfo>)
endfunction()

# CUDA tests (native/tests/cuda) join the build at the end of the including directory, once CTest
# has defined BUILD_TESTING; they skip at test time on a machine without a GPU.
function(_liger_cuda_add_tests)
  if(LIGER_CUDA_ENABLED AND BUILD_TESTING AND EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/tests/cuda/cuda_tests.cmake")
    include("${CMAKE_CURRENT_SOURCE_DIR}/tests/cuda/cuda_tests.cmake")
  endif()
endfunction()
cmake_language(DEFER CALL _liger_cuda_add_tests)
