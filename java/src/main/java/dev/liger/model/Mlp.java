package dev.liger.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/** SwiGLU feed-forward: down(silu(gate(x)) * up(x)). */
public final class Mlp implements AutoCloseable {
    private Linear gate;
    private Linear up;
    private Linear down;

    public Mlp(Linear gate, Linear up, Linear down) {
        this.gate = gate;
        this.up = up;
        this.down = down;
    }

    public Tensor forward(Tensor x) {
        return down.forward(torch.silu(gate.forward(x)).mul(up.forward(x)));
    }

    public Linear gate() {
        return gate;
    }

    public Linear up() {
        return up;
    }

    public Linear down() {
        return down;
    }

    public void setGate(Linear l) {
        gate = l;
    }

    public void setUp(Linear l) {
        up = l;
    }

    public void setDown(Linear l) {
        down = l;
    }

    @Override
    public void close() {
        gate.close();
        up.close();
        down.close();
    }
}
