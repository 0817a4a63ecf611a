package dev.liger.config;

/**
 * Rotary position embedding parameters. {@code type} is one of default, linear, dynamic, llama3;
 * the scaling fields are ignored by the types that do not use them.
 */
public record RopeConfig(
        String type,
        double theta,
        double factor,
        double lowFreqFactor,
        double highFreqFactor,
        int originalMaxPositionEmbeddings) {

    public static final String DEFAULT = "default";
    public static final String LINEAR = "linear";
    public static final String DYNAMIC = "dynamic";
    public static final String LLAMA3 = "llama3";

    public RopeConfig {
        if (!(type.equals(DEFAULT) || type.equals(LINEAR) || type.equals(DYNAMIC) || type.equals(LLAMA3))) {
            throw new ConfigException("unsupported rope type '" + type + "' (supported: default, linear, dynamic, llama3)");
        }
        if (!(theta > 0)) throw new ConfigException("rope_theta must be positive, got " + theta);
        if (!type.equals(DEFAULT) && !(factor > 0)) throw new ConfigException("rope factor must be positive for rope type " + type + ", got " + factor);
        if (type.equals(LLAMA3) && !(highFreqFactor > lowFreqFactor)) {
            throw new ConfigException("llama3 rope needs high_freq_factor > low_freq_factor, got " + highFreqFactor + " <= " + lowFreqFactor);
        }
    }

    public static RopeConfig plain(double theta) {
        return new RopeConfig(DEFAULT, theta, 1, 0, 0, 0);
    }
}
