# CUDA kernel tests, included from cmake/LigerCuda.cmake at the end of native/CMakeLists.txt: built
# when the CUDA kernels are; at test time they skip (exit 77) on a machine without a GPU, so a
# GPU-less CI machine still compiles and links them.
add_executable(liger_cuda_test "${CMAKE_CURRENT_LIST_DIR}/cuda_kernels_test.cu")
target_link_libraries(liger_cuda_test PRIVATE liger)
set_target_properties(liger_cuda_test PROPERTIES CUDA_ARCHITECTURES "${LIGER_CUDA_ARCHITECTURES}"
  CUDA_RUNTIME_LIBRARY Static)
add_test(NAME liger_cuda_test COMMAND liger_cuda_test)
set_tests_properties(liger_cuda_test PROPERTIES SKIP_RETURN_CODE 77)
