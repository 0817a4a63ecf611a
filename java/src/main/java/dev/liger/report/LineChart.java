package dev.liger.report;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/** Minimal PNG line charts (Java2D, headless): side-by-side panels, each with named series. */
public final class LineChart {
    private LineChart() {}

    public record Series(String name, double[] x, double[] y) {
        public Series {
            if (x.length != y.length) throw new IllegalArgumentException("series " + name + ": x and y lengths differ");
        }
    }

    public record Panel(String title, String xLabel, String yLabel, List<Series> series) {}

    private static final Color[] PALETTE = {new Color(0xD62728), new Color(0x1F77B4), new Color(0x2CA02C), new Color(0xFF7F0E)};

    public static void writePng(Path file, String title, List<Panel> panels) {
        System.setProperty("java.awt.headless", "true");
        int pw = 560, ph = 420, top = 40;
        BufferedImage img = new BufferedImage(pw * panels.size(), ph + top, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
        g.drawString(title, 16, 26);
        for (int i = 0; i < panels.size(); i++) drawPanel(g, panels.get(i), i * pw, top, pw, ph);
        g.dispose();
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            if (!ImageIO.write(img, "png", tmp.toFile())) throw new IOException("no PNG writer available");
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot write chart: " + e.getMessage(), e);
        }
    }

    private static void drawPanel(Graphics2D g, Panel p, int x0, int y0, int w, int h) {
        int left = x0 + 70, right = x0 + w - 20, top = y0 + 30, bottom = y0 + h - 55;
        double xmin = Double.MAX_VALUE, xmax = -Double.MAX_VALUE, ymax = 0;
        for (Series s : p.series())
            for (int i = 0; i < s.x().length; i++) {
                xmin = Math.min(xmin, s.x()[i]);
                xmax = Math.max(xmax, s.x()[i]);
                ymax = Math.max(ymax, s.y()[i]);
            }
        if (!(xmax > xmin)) { xmin = 0; xmax = Math.max(1, xmax); }
        if (!(ymax > 0)) ymax = 1;
        ymax *= 1.1;
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
        g.setColor(Color.BLACK);
        g.drawString(p.title(), left, y0 + 18);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        g.setStroke(new BasicStroke(1f));
        for (int t = 0; t <= 5; t++) {
            double yv = ymax * t / 5;
            int yy = bottom - (int) Math.round((bottom - top) * t / 5.0);
            g.setColor(new Color(0xE0E0E0));
            g.drawLine(left, yy, right, yy);
            g.setColor(Color.DARK_GRAY);
            g.drawString(fmt(yv), x0 + 8, yy + 4);
            double xv = xmin + (xmax - xmin) * t / 5;
            int xx = left + (int) Math.round((right - left) * t / 5.0);
            g.drawString(fmt(xv), xx - 12, bottom + 16);
        }
        g.setColor(Color.BLACK);
        g.drawRect(left, top, right - left, bottom - top);
        g.drawString(p.xLabel(), (left + right) / 2 - 40, bottom + 34);
        g.drawString(p.yLabel(), left, top - 4 + 0);
        int li = 0;
        for (Series s : p.series()) {
            Color c = PALETTE[li % PALETTE.length];
            g.setColor(c);
            g.setStroke(new BasicStroke(2f));
            int px = -1, py = -1;
            for (int i = 0; i < s.x().length; i++) {
                int xx = left + (int) Math.round((right - left) * (s.x()[i] - xmin) / (xmax - xmin));
                int yy = bottom - (int) Math.round((bottom - top) * s.y()[i] / ymax);
                if (px >= 0) g.drawLine(px, py, xx, yy);
                g.fillOval(xx - 3, yy - 3, 6, 6);
                px = xx;
                py = yy;
            }
            g.fillRect(left + 10, top + 10 + 18 * li, 14, 4);
            g.setColor(Color.BLACK);
            g.drawString(s.name(), left + 30, top + 16 + 18 * li);
            li++;
        }
    }

    private static String fmt(double v) {
        if (v == 0) return "0";
        double a = Math.abs(v);
        if (a >= 1e4 || a < 1e-2) return String.format("%.1e", v);
        if (a >= 100) return String.format("%.0f", v);
        return String.format("%.2f", v);
    }
}
