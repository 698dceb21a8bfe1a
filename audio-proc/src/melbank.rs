//! Construction of LedFx's melbank filterbanks, for every `coeffs_type` (engine spec §1.4).
//!
//! Each melbank maps the 2049 FFT magnitudes of a 4096-point FFT at 30 kHz onto `n` bands
//! between 20 Hz and its own maximum frequency. For all types but `scott` the band edges are
//! evenly spaced on a warped frequency scale (`matt_mel`, `scott_mel`, Slaney mel for
//! `triangle` and `mel`, HTK mel for `htk`, Bark for `bark`) and the triangles are built
//! exactly the way aubio's `set_triangle_bands` builds them (unit-area heights, its
//! particular bin-boundary rules); `scott` evaluates unit-height triangles on the bin
//! frequencies. All but `matt_mel`, `scott_mel` and `scott` then scale each row to a peak of
//! 1, as LedFx does. Effects are tuned to these values, so they are reproduced exactly
//! (checked against LedFx 2.2.1 in `tests/ledfx_fidelity.rs`). Rows are stored sparsely
//! (start bin + coefficients) since each triangle covers only a few bins.

/// FFT length the filterbanks are built for (LedFx hard-codes it).
pub const FFT_SIZE: usize = 4096;
/// Number of magnitudes of a real FFT of [`FFT_SIZE`] points.
pub const SPECTRUM_BINS: usize = FFT_SIZE / 2 + 1;
/// Sample rate of the analysis, Hz.
pub const ANALYSIS_RATE: u32 = 30_000;
/// Lower edge of every melbank, Hz (LedFx stores `min_frequency` but never applies it).
pub const MIN_FREQ_HZ: f64 = 20.0;

/// Errors building a filterbank.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum MelbankError {
    #[error("melbank range {min_hz}..{max_hz} Hz must be increasing and within 0..15000 Hz")]
    BuildRange { min_hz: f64, max_hz: f64 },
    #[error("a melbank needs at least one band")]
    BuildNoBands,
}

/// `matt_mel` warp: Hz → warped units (`3700·log₁₂(1 + f/230)`).
pub fn matt_mel_warp(hz: f64) -> f64 {
    3700.0 * (1.0 + hz / 230.0).ln() / 12f64.ln()
}

/// Inverse of [`matt_mel_warp`].
pub fn matt_mel_unwarp(w: f64) -> f64 {
    230.0 * (12f64.powf(w / 3700.0) - 1.0)
}

/// The `n + 2` band-edge frequencies of a `matt_mel` melbank over `[min_hz, max_hz]`.
pub fn matt_mel_edges(min_hz: f64, max_hz: f64, n: usize) -> Vec<f64> {
    let lo = matt_mel_warp(min_hz);
    let hi = matt_mel_warp(max_hz);
    let steps = (n + 1) as f64;
    (0..n + 2)
        .map(|i| matt_mel_unwarp(lo + (hi - lo) * i as f64 / steps))
        .collect()
}

/// LedFx's `melbanks.coeffs_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CoeffsType {
    #[default]
    MattMel,
    ScottMel,
    Triangle,
    Bark,
    Mel,
    Htk,
    Scott,
}

impl CoeffsType {
    /// Every type with its LedFx name, in LedFx's schema order.
    pub const ALL: [(&'static str, CoeffsType); 7] = [
        ("matt_mel", CoeffsType::MattMel),
        ("triangle", CoeffsType::Triangle),
        ("bark", CoeffsType::Bark),
        ("mel", CoeffsType::Mel),
        ("htk", CoeffsType::Htk),
        ("scott", CoeffsType::Scott),
        ("scott_mel", CoeffsType::ScottMel),
    ];

    /// The type LedFx calls `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// LedFx's name of the type.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("matt_mel", |(n, _)| n)
    }

    /// Whether LedFx scales each row to a peak of 1.
    fn peak_normalised(self) -> bool {
        !matches!(
            self,
            CoeffsType::MattMel | CoeffsType::ScottMel | CoeffsType::Scott
        )
    }
}

/// `scott_mel` (and `scott`) warp: `3340·log₉(1 + f/250)`, and its inverse.
fn scott_warp(hz: f64) -> f64 {
    3340.0 * (1.0 + hz / 250.0).ln() / 9f64.ln()
}
fn scott_unwarp(w: f64) -> f64 {
    250.0 * 9f64.powf(w / 3340.0) - 250.0
}

/// aubio's Slaney mel, in float32 as aubio computes it (the reported centres are truncated
/// to whole Hz, so a rounding difference shows): linear below 1 kHz at 3/200 mel per Hz,
/// logarithmic above.
fn slaney_mel(hz: f32) -> f32 {
    let lin_space: f32 = 3.0 / 200.0;
    let split_hz: f32 = 1000.0;
    let log_space: f32 = 27.0 / (6400.0f32 / 1000.0).ln();
    if hz < 0.0 {
        0.0
    } else if hz < split_hz {
        hz * lin_space
    } else {
        split_hz * lin_space + log_space * (hz / split_hz).ln()
    }
}
fn slaney_hz(mel: f32) -> f32 {
    let lin_space: f32 = 200.0 / 3.0;
    let split_hz: f32 = 1000.0;
    let split_mel = split_hz / lin_space;
    let log_spacing = (6400.0f32 / 1000.0).powf(1.0 / 27.0);
    if mel < 0.0 {
        0.0
    } else if mel < split_mel {
        lin_space * mel
    } else {
        split_hz * log_spacing.powf(mel - split_mel)
    }
}

/// HTK mel: `1127·ln(1 + f/700)`, and its inverse (float32, as aubio).
fn htk_mel(hz: f32) -> f32 {
    1127.0 * (1.0 + hz / 700.0).ln()
}
fn htk_hz(mel: f32) -> f32 {
    700.0 * ((mel / 1127.0).exp() - 1.0)
}

/// A float32 frequency scale: Hz → scale, and back.
type Scale32 = (fn(f32) -> f32, fn(f32) -> f32);

/// `count` points of aubio's own mel code (`set_mel_coeffs`), all in float32: evenly
/// spaced from `warp(min_hz)` by `(warp(max_hz) − warp(min_hz)) / (count − 1)`.
fn aubio_mel_points((warp, unwarp): Scale32, min_hz: f64, max_hz: f64, count: usize) -> Vec<f64> {
    let (start, end) = (warp(min_hz as f32), warp(max_hz as f32));
    let step = (end - start) / count.saturating_sub(1).max(1) as f32;
    (0..count)
        .map(|m| f64::from(unwarp(start + step * m as f32)))
        .collect()
}

/// `count` points the way LedFx's Python builds them on aubio's Slaney scale: the ends
/// converted in float32, a float64 `linspace`, each point converted back in float32.
fn python_slaney_points(min_hz: f64, max_hz: f64, count: usize) -> Vec<f64> {
    let (lo, hi) = (
        f64::from(slaney_mel(min_hz as f32)),
        f64::from(slaney_mel(max_hz as f32)),
    );
    let steps = count.saturating_sub(1).max(1) as f64;
    (0..count)
        .map(|i| f64::from(slaney_hz((lo + (hi - lo) * i as f64 / steps) as f32)))
        .collect()
}

/// Bark: `6·asinh(f/600)`, and its inverse.
fn bark(hz: f64) -> f64 {
    6.0 * (hz / 600.0).asinh()
}
fn bark_hz(b: f64) -> f64 {
    600.0 * (b / 6.0).sinh()
}

/// `count` points evenly spaced on the `warp` scale from `min_hz` to `max_hz`, back in Hz.
fn warped_points(
    warp: fn(f64) -> f64,
    unwarp: fn(f64) -> f64,
    min_hz: f64,
    max_hz: f64,
    count: usize,
) -> Vec<f64> {
    let (lo, hi) = (warp(min_hz), warp(max_hz));
    let steps = count.saturating_sub(1).max(1) as f64;
    (0..count)
        .map(|i| unwarp(lo + (hi - lo) * i as f64 / steps))
        .collect()
}

/// LedFx hands aubio the edges as float32.
fn as_f32(points: Vec<f64>) -> Vec<f64> {
    points.into_iter().map(|f| f64::from(f as f32)).collect()
}

/// One sparse filter row: coefficients for bins `start..start + coeffs.len()`.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    start: usize,
    coeffs: Vec<f32>,
}

impl Row {
    /// The non-zero span of a dense row, as float32 (aubio's coefficient type).
    fn from_dense(dense: &[f64]) -> Self {
        let first = dense.iter().position(|&c| c != 0.0).unwrap_or(0);
        let end = dense
            .iter()
            .rposition(|&c| c != 0.0)
            .map_or(first, |e| e + 1);
        Row {
            start: first,
            coeffs: dense[first..end].iter().map(|&c| c as f32).collect(),
        }
    }
}

/// A triangular filterbank over the FFT magnitudes.
#[derive(Debug, Clone, PartialEq)]
pub struct Filterbank {
    rows: Vec<Row>,
    centres_hz: Vec<f32>,
    max_hz: f64,
}

impl Filterbank {
    /// The `matt_mel` filterbank with `n` bands over `[min_hz, max_hz]`.
    pub fn matt_mel(min_hz: f64, max_hz: f64, n: usize) -> Result<Self, MelbankError> {
        Self::build(CoeffsType::MattMel, min_hz, max_hz, n)
    }

    /// The filterbank of `kind` with `n` bands over `[min_hz, max_hz]`.
    pub fn build(
        kind: CoeffsType,
        min_hz: f64,
        max_hz: f64,
        n: usize,
    ) -> Result<Self, MelbankError> {
        if n == 0 {
            return Err(MelbankError::BuildNoBands);
        }
        let nyquist = f64::from(ANALYSIS_RATE) / 2.0;
        if !(min_hz >= 0.0 && max_hz > min_hz && max_hz <= nyquist) {
            return Err(MelbankError::BuildRange { min_hz, max_hz });
        }
        let edges = |warp, unwarp| as_f32(warped_points(warp, unwarp, min_hz, max_hz, n + 2));
        let mut bank = match kind {
            CoeffsType::MattMel => Self::from_edges(&as_f32(matt_mel_edges(min_hz, max_hz, n))),
            CoeffsType::ScottMel => Self::from_edges(&edges(scott_warp, scott_unwarp)),
            CoeffsType::Triangle => Self::from_edges(&python_slaney_points(min_hz, max_hz, n + 2)),
            CoeffsType::Bark => Self::from_edges(&edges(bark, bark_hz)),
            CoeffsType::Mel | CoeffsType::Htk => {
                // aubio's set_mel_coeffs(_htk): edges on its mel scale, clipped to Nyquist.
                let scale: Scale32 = if kind == CoeffsType::Mel {
                    (slaney_mel, slaney_hz)
                } else {
                    (htk_mel, htk_hz)
                };
                let clipped = aubio_mel_points(scale, min_hz, max_hz, n + 2)
                    .into_iter()
                    .map(|f| f.min(nyquist))
                    .collect::<Vec<_>>();
                let mut bank = Self::from_edges(&clipped);
                // LedFx reports n points on aubio's Slaney scale for both, not the
                // triangles' peaks.
                bank.centres_hz = python_slaney_points(min_hz, max_hz, n)
                    .into_iter()
                    .map(|f| f.trunc() as f32)
                    .collect();
                bank
            }
            CoeffsType::Scott => Self::scott(min_hz, max_hz, n),
        };
        if kind.peak_normalised() {
            bank.normalise_peaks();
        }
        Ok(bank)
    }

    /// `scott`: unit-height triangles on the `scott_mel` scale, evaluated at the bin
    /// frequencies with both edges included (a bin exactly on a centre reads 1).
    fn scott(min_hz: f64, max_hz: f64, n: usize) -> Self {
        let points = warped_points(scott_warp, scott_unwarp, min_hz, max_hz, n + 2);
        let bin_hz = |k: usize| k as f64 * f64::from(ANALYSIS_RATE) / FFT_SIZE as f64;
        let rows = (0..n)
            .map(|i| {
                let (lower, centre, upper) = (points[i], points[i + 1], points[i + 2]);
                let dense: Vec<f64> = (0..SPECTRUM_BINS)
                    .map(|k| {
                        let f = bin_hz(k);
                        if f >= centre && f <= upper {
                            (upper - f) / (upper - centre)
                        } else if f >= lower && f <= centre {
                            (f - lower) / (centre - lower)
                        } else {
                            0.0
                        }
                    })
                    .collect();
                Row::from_dense(&dense)
            })
            .collect();
        Self {
            rows,
            centres_hz: points[1..=n].iter().map(|&f| f.trunc() as f32).collect(),
            max_hz,
        }
    }

    /// Scales every row to a peak of 1 (a row without any coefficient stays empty).
    fn normalise_peaks(&mut self) {
        for row in &mut self.rows {
            let peak = row.coeffs.iter().copied().fold(0.0f32, f32::max);
            if peak > 0.0 {
                for c in &mut row.coeffs {
                    *c /= peak;
                }
            }
        }
    }

    /// Builds aubio-style unit-area triangles from `edges` (`n + 2` increasing frequencies:
    /// filter `i` spans `edges[i]..edges[i + 2]` and peaks at `edges[i + 1]`).
    pub fn from_edges(edges: &[f64]) -> Self {
        let n = edges.len().saturating_sub(2);
        let bin_hz = |k: usize| k as f64 * f64::from(ANALYSIS_RATE) / FFT_SIZE as f64;
        // aubio never touches the last magnitude (its loops stop one short of the end).
        let last = SPECTRUM_BINS - 1;
        let mut rows = Vec::with_capacity(n);
        for i in 0..n {
            let (lower, centre, upper) = (edges[i], edges[i + 1], edges[i + 2]);
            let height = 2.0 / (upper - lower);
            let mut dense = vec![0.0f64; SPECTRUM_BINS];
            // Skip to the first bin strictly above `lower`.
            let mut bin = (0..last)
                .find(|&b| bin_hz(b) <= lower && bin_hz(b + 1) > lower)
                .map_or(last, |b| b + 1);
            // Rising slope, up to and including the last bin whose next bin reaches `centre`.
            let rise = height / (centre - lower);
            while bin < last {
                dense[bin] = (bin_hz(bin) - lower) * rise;
                bin += 1;
                if bin_hz(bin) >= centre {
                    break;
                }
            }
            // Falling slope until the next bin would reach `upper`.
            let fall = height / (upper - centre);
            while bin < last {
                dense[bin] = (dense[bin] + (upper - bin_hz(bin)) * fall).max(0.0);
                if bin_hz(bin + 1) >= upper {
                    break;
                }
                bin += 1;
            }
            rows.push(Row::from_dense(&dense));
        }
        // LedFx reports the interior edge points, truncated to whole Hz.
        let centres_hz = edges
            .iter()
            .skip(1)
            .take(n)
            .map(|&f| f.trunc() as f32)
            .collect();
        Self {
            rows,
            centres_hz,
            max_hz: edges.last().copied().unwrap_or(0.0),
        }
    }

    /// Number of bands.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the bank has no bands.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Upper frequency of the bank, Hz.
    pub fn max_hz(&self) -> f64 {
        self.max_hz
    }

    /// Centre frequency of every band as LedFx reports it (truncated to whole Hz).
    pub fn centres_hz(&self) -> &[f32] {
        &self.centres_hz
    }

    /// The non-zero coefficients of band `index`: its first bin and the values from there.
    pub fn coefficients(&self, index: usize) -> Option<(usize, &[f32])> {
        self.rows.get(index).map(|r| (r.start, r.coeffs.as_slice()))
    }

    /// `out[i] = Σ_k F[i][k] · spectrum[k]` for every band (`out` has [`Self::len`] items).
    pub fn apply(&self, spectrum: &[f32], out: &mut [f32]) {
        for (row, o) in self.rows.iter().zip(out.iter_mut()) {
            let bins = spectrum.get(row.start..).unwrap_or(&[]);
            *o = row.coeffs.iter().zip(bins).map(|(c, s)| c * s).sum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_edges_match_golden_vector_8() {
        let e = matt_mel_edges(20.0, 15_000.0, 24);
        assert_eq!(e.len(), 26);
        let expected_start = [20.0, 64.666, 117.313, 179.365, 252.505];
        for (got, want) in e.iter().zip(expected_start) {
            assert!((got - want).abs() < 1e-3, "{got} vs {want}");
        }
        assert!((e[23] - 10_732.74).abs() < 0.01);
        assert!((e[24] - 12_691.40).abs() < 0.01);
        assert!((e[25] - 15_000.0).abs() < 1e-6);
    }

    #[test]
    fn filter_0_of_melbank_2_matches_golden_vector_8() {
        let fb = Filterbank::matt_mel(20.0, 15_000.0, 24).unwrap();
        let (start, coeffs) = fb.coefficients(0).unwrap();
        assert_eq!(start, 3);
        let expected = [
            0.000908, 0.004278, 0.007648, 0.011018, 0.014388, 0.017758, 0.020064, 0.017204,
            0.014345, 0.011486, 0.008627, 0.005767, 0.002908, 0.000049,
        ];
        assert_eq!(coeffs.len(), expected.len(), "bins 3..=16");
        for (got, want) in coeffs.iter().zip(expected) {
            assert!((got - want).abs() < 2e-6, "{coeffs:?}");
        }
    }

    #[test]
    fn filter_23_of_melbank_2_matches_golden_vector_8() {
        let fb = Filterbank::matt_mel(20.0, 15_000.0, 24).unwrap();
        let (start, coeffs) = fb.coefficients(23).unwrap();
        assert_eq!(start, 1466);
        assert_eq!(start + coeffs.len() - 1, 2047);
        let (peak_at, peak) =
            coeffs.iter().enumerate().fold(
                (0, 0.0f32),
                |best, (i, &c)| if c > best.1 { (i, c) } else { best },
            );
        assert_eq!(start + peak_at, 1733);
        assert!((peak - 0.000468).abs() < 1e-6, "{peak}");
    }

    #[test]
    fn default_centre_frequencies_match_the_spec() {
        let expect: [&[f32]; 3] = [
            &[
                28., 37., 46., 56., 65., 75., 86., 97., 108., 120., 132., 144., 157., 170., 184.,
                198., 213., 228., 243., 260., 276., 294., 312., 330.,
            ],
            &[
                42., 67., 95., 124., 157., 192., 231., 273., 319., 369., 424., 484., 550., 621.,
                699., 784., 877., 978., 1088., 1209., 1341., 1484., 1641., 1813.,
            ],
            &[
                64., 117., 179., 252., 338., 440., 560., 701., 867., 1063., 1294., 1567., 1888.,
                2266., 2713., 3238., 3858., 4589., 5450., 6464., 7661., 9070., 10732., 12691.,
            ],
        ];
        for (max, want) in [350.0, 2000.0, 15_000.0].into_iter().zip(expect) {
            let fb = Filterbank::matt_mel(MIN_FREQ_HZ, max, 24).unwrap();
            assert_eq!(fb.centres_hz(), want, "melbank up to {max}");
        }
    }

    #[test]
    fn apply_is_the_sparse_matrix_product() {
        let fb = Filterbank::matt_mel(20.0, 2000.0, 8).unwrap();
        let spectrum: Vec<f32> = (0..SPECTRUM_BINS).map(|k| (k % 7) as f32).collect();
        let mut out = vec![0.0; fb.len()];
        fb.apply(&spectrum, &mut out);
        for (i, &o) in out.iter().enumerate() {
            let (start, c) = fb.coefficients(i).unwrap();
            let dense: f32 = c
                .iter()
                .enumerate()
                .map(|(j, c)| c * spectrum[start + j])
                .sum();
            assert!((o - dense).abs() < 1e-5);
            assert!(o > 0.0);
        }
    }

    #[test]
    fn impossible_ranges_are_rejected() {
        assert!(Filterbank::matt_mel(20.0, 20_000.0, 24).is_err());
        assert!(Filterbank::matt_mel(20.0, 10.0, 24).is_err());
        assert!(Filterbank::matt_mel(20.0, 350.0, 0).is_err());
    }
}
