package dev.liger.model;

/**
 * A token mixer built on the four attention projections (softmax attention, and Liger attention, which reuses
 * them). Adapters such as LoRA find and replace the projections through this interface.
 */
public interface AttentionProjections {
    Linear qProj();
    Linear kProj();
    Linear vProj();
    Linear oProj();
    void setQProj(Linear l);
    void setKProj(Linear l);
    void setVProj(Linear l);
    void setOProj(Linear l);
}
