/**
 * What `diffubias setup` builds the native TensorFlow backend from. Changing any of these is a new
 * build (the binding's stamp records them), so the same pins always give the same binding.
 */
export const TFJS_NODE_VERSION = '4.22.0';
export const TENSORFLOW_VERSION = '2.21.0';

export type TfDevice = 'cpu' | 'gpu';

export interface WheelTarget {
  /** PyPI project: tensorflow-cpu for CPU, tensorflow (with its `and-cuda` extra's CUDA wheels) for GPU. */
  project: string;
  /** pip download's --platform tags, most specific first (CUDA wheels use older manylinux tags). */
  platforms: string[];
  /** The wheel is the same C library for every CPython; one tag is pinned so the file is always the same. */
  pythonVersion: string;
  abi: string;
  /** The npm package whose binding is built against it. */
  npmPackage: '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu';
  /** pip extra whose requirements (CUDA libraries from PyPI's nvidia-* wheels) come along. */
  extra?: string;
}

/**
 * Provisioned targets, by `${process.platform}-${process.arch}` and device. Only linux-x64 is
 * wired: it is what this project's machines are and what has been tested (CPU). PyPI also has
 * aarch64 Linux and macOS arm64 wheels; they lay the libraries out differently (.dylib names,
 * no tensorflow-cpu on aarch64) and are left out rather than shipped untested.
 */
export const WHEEL_TARGETS: Record<string, Partial<Record<TfDevice, WheelTarget>>> = {
  'linux-x64': {
    cpu: {
      project: 'tensorflow-cpu', platforms: ['manylinux_2_27_x86_64'], pythonVersion: '3.11', abi: 'cp311',
      npmPackage: '@tensorflow/tfjs-node',
    },
    gpu: {
      project: 'tensorflow', platforms: ['manylinux_2_27_x86_64', 'manylinux_2_17_x86_64', 'manylinux2014_x86_64'],
      pythonVersion: '3.11', abi: 'cp311', npmPackage: '@tensorflow/tfjs-node-gpu', extra: 'and-cuda',
    },
  },
};

/** What the binding links against, inside the TensorFlow wheel. */
export const WHEEL_LIBRARIES = ['tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'];

/**
 * The headers the binding's two C++ files include (tensorflow/c/c_api.h, tensorflow/c/eager/c_api.h
 * and what those pull in), as prefixes under the wheel's tensorflow/include/. The whole include
 * tree is 268 MB (Eigen, absl, protobuf, XLA); these are 68 files.
 */
export const WHEEL_HEADER_PREFIXES = [
  'tensorflow/c/',
  'xla/tsl/c/',
  'tsl/platform/ctstring',
  'tensorflow/core/platform/ctstring',
];
