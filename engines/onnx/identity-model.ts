/** An ONNX model of one Identity node, x -> y, float32 [2] (opset 13): what a CUDA provider check runs. */
export const IDENTITY_MODEL_BASE64 = 'CAg6OAoQCgF4EgF5IghJZGVudGl0eRICaWRaDwoBeBIKCggIARIECgIIAmIPCgF5EgoKCAgBEgQKAggCQgQKABAN';
