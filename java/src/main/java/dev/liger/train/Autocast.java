package dev.liger.train;

import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.DeviceType;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A bf16 autocast region for one device type, restored on close. The cast cache is cleared on
 * close: it holds low-precision copies of the weights, which go stale once the optimizer steps.
 */
public final class Autocast implements AutoCloseable {
  private final DeviceType device;
  private final boolean active;
  private final boolean prevEnabled;
  private final ScalarType prevType;

  private Autocast(DeviceType device, boolean active) {
    this.device = device;
    this.active = active;
    this.prevEnabled = active && torch.is_autocast_enabled(device);
    this.prevType = active ? torch.get_autocast_dtype(device) : null;
    if (active) {
      torch.set_autocast_dtype(device, ScalarType.BFloat16);
      torch.set_autocast_enabled(device, true);
      torch.increment_nesting();
    }
  }

  /** Opens a region for precision on device; FP32 opens nothing. Throws if the device has no autocast. */
  public static Autocast open(Precision precision, DeviceType device) {
    if (precision == Precision.FP32) return new Autocast(device, false);
    if (!torch.is_autocast_available(device)) {
      throw new UnsupportedOperationException("bf16 autocast is not supported on device " + device);
    }
    return new Autocast(device, true);
  }

  @Override
  public void close() {
    if (!active) return;
    if (torch.decrement_nesting() == 0) torch.clear_cache();
    torch.set_autocast_enabled(device, prevEnabled);
    torch.set_autocast_dtype(device, prevType);
  }
}
