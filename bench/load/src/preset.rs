//! The request mixes of the paper's experiments ([`Preset`]) and phase lists that switch
//! between them over time ([`Phase`]).

use std::fmt;
use std::str::FromStr;

/// A named request mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    /// Static files only: images and text in Wikipedia's 54:31 ratio.
    Static,
    /// Wikipedia's mix: 54% images, 31% text, 17% dynamic article pages (normalised, the
    /// published shares sum to 102%).
    Wikipedia,
    /// [`Preset::Wikipedia`]'s mix with dynamic pages 8 times costlier.
    WikipediaHeavy,
    /// Dynamic pages only, offered open-loop at 5 requests/s by default (Fig. 8, low phase).
    Dynamic5,
    /// Dynamic pages only, offered open-loop at 20 requests/s by default (Fig. 8, high phase).
    Dynamic20,
    /// 10 KiB thumbnails only, uniformly (the nginx comparison).
    Thumbs,
    /// 5 KiB text stubs only, uniformly (the nginx comparison).
    Stubs,
}

/// The share of each request class in a mix; the shares sum to 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mix {
    /// Images (`Kind::Image`).
    pub image: f64,
    /// Text files (`Kind::Text`).
    pub text: f64,
    /// 10 KiB thumbnails (`Kind::Thumb`).
    pub thumb: f64,
    /// 5 KiB stubs (`Kind::Stub`).
    pub stub: f64,
    /// Dynamic article pages.
    pub dynamic: f64,
}

impl Mix {
    /// The mix with these relative weights, normalised.
    fn weights(image: f64, text: f64, thumb: f64, stub: f64, dynamic: f64) -> Mix {
        let sum = image + text + thumb + stub + dynamic;
        Mix { image: image / sum, text: text / sum, thumb: thumb / sum, stub: stub / sum, dynamic: dynamic / sum }
    }
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 7] = [
        Preset::Static,
        Preset::Wikipedia,
        Preset::WikipediaHeavy,
        Preset::Dynamic5,
        Preset::Dynamic20,
        Preset::Thumbs,
        Preset::Stubs,
    ];

    /// The name used on the command line and in CSV rows.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Static => "static",
            Preset::Wikipedia => "wikipedia",
            Preset::WikipediaHeavy => "wikipedia-heavy",
            Preset::Dynamic5 => "dynamic-5",
            Preset::Dynamic20 => "dynamic-20",
            Preset::Thumbs => "thumbs",
            Preset::Stubs => "stubs",
        }
    }

    /// The request mix.
    pub fn mix(self) -> Mix {
        match self {
            Preset::Static => Mix::weights(54.0, 31.0, 0.0, 0.0, 0.0),
            Preset::Wikipedia | Preset::WikipediaHeavy => Mix::weights(54.0, 31.0, 0.0, 0.0, 17.0),
            Preset::Dynamic5 | Preset::Dynamic20 => Mix::weights(0.0, 0.0, 0.0, 0.0, 1.0),
            Preset::Thumbs => Mix::weights(0.0, 0.0, 1.0, 0.0, 0.0),
            Preset::Stubs => Mix::weights(0.0, 0.0, 0.0, 1.0, 0.0),
        }
    }

    /// The total offered load (requests/s, open loop) when the plan sets none; `None` means
    /// closed loop.
    pub fn default_rate(self) -> Option<f64> {
        match self {
            Preset::Dynamic5 => Some(5.0),
            Preset::Dynamic20 => Some(20.0),
            _ => None,
        }
    }

    /// What the base cost of a dynamic page is multiplied by.
    pub fn cost_multiplier(self) -> u32 {
        match self {
            Preset::WikipediaHeavy => 8,
            _ => 1,
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a preset or phase list did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// No preset has this name.
    UnknownPreset(String),
    /// A phase is not `preset:seconds` with a whole number of seconds above zero.
    BadPhase(String),
    /// The phase list is empty.
    NoPhases,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnknownPreset(name) => {
                let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
                write!(f, "unknown preset {name:?} (expected one of {})", names.join(", "))
            }
            ParseError::BadPhase(phase) => write!(f, "phase {phase:?} is not preset:seconds (seconds >= 1)"),
            ParseError::NoPhases => f.write_str("the phase list is empty"),
        }
    }
}

impl std::error::Error for ParseError {}

impl FromStr for Preset {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Preset, ParseError> {
        let s = s.trim();
        Preset::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseError::UnknownPreset(s.into()))
    }
}

/// One phase of a run: a preset for a whole number of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phase {
    /// The mix of this phase.
    pub preset: Preset,
    /// How long it lasts, in seconds (at least 1).
    pub secs: u64,
}

impl Phase {
    /// Parses `preset:seconds[,preset:seconds...]`, e.g. `dynamic-5:30,dynamic-20:30`.
    ///
    /// # Errors
    ///
    /// [`ParseError`] for an unknown preset, a malformed phase or an empty list.
    pub fn parse_list(list: &str) -> Result<Vec<Phase>, ParseError> {
        let phases = list.split(',').filter(|p| !p.trim().is_empty()).map(str::parse).collect::<Result<Vec<_>, _>>()?;
        if phases.is_empty() {
            return Err(ParseError::NoPhases);
        }
        Ok(phases)
    }
}

impl FromStr for Phase {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Phase, ParseError> {
        let bad = || ParseError::BadPhase(s.trim().into());
        let (name, secs) = s.trim().rsplit_once(':').ok_or_else(bad)?;
        let secs: u64 = secs.trim().parse().map_err(|_| bad())?;
        if secs == 0 {
            return Err(bad());
        }
        Ok(Phase { preset: name.parse()?, secs })
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.preset, self.secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for preset in Preset::ALL {
            assert_eq!(preset.name().parse::<Preset>(), Ok(preset));
        }
        assert_eq!("Wikipedia-Heavy".parse::<Preset>(), Ok(Preset::WikipediaHeavy));
        assert!(matches!("wiki".parse::<Preset>(), Err(ParseError::UnknownPreset(_))));
    }

    #[test]
    fn mixes_are_normalised() {
        for preset in Preset::ALL {
            let m = preset.mix();
            assert!((m.image + m.text + m.thumb + m.stub + m.dynamic - 1.0).abs() < 1e-12, "{preset}");
        }
        let wiki = Preset::Wikipedia.mix();
        assert!((wiki.image - 54.0 / 102.0).abs() < 1e-12 && (wiki.dynamic - 17.0 / 102.0).abs() < 1e-12);
        let stat = Preset::Static.mix();
        assert!((stat.image - 54.0 / 85.0).abs() < 1e-12 && stat.dynamic == 0.0);
        assert_eq!(Preset::WikipediaHeavy.mix(), wiki);
        assert_eq!(Preset::WikipediaHeavy.cost_multiplier(), 8);
        assert_eq!(Preset::Dynamic20.default_rate(), Some(20.0));
        assert_eq!(Preset::Wikipedia.default_rate(), None);
    }

    #[test]
    fn phase_lists_parse() {
        let phases = Phase::parse_list("dynamic-5:30, dynamic-20:30,dynamic-5:2").unwrap();
        assert_eq!(phases.len(), 3);
        assert_eq!(phases[1], Phase { preset: Preset::Dynamic20, secs: 30 });
        assert_eq!(phases[2].to_string(), "dynamic-5:2");
        for bad in ["static", "static:0", "static:x", "static:-1", "static:1.5", ":3"] {
            assert!(Phase::parse_list(bad).is_err(), "{bad}");
        }
        assert_eq!(Phase::parse_list(" , "), Err(ParseError::NoPhases));
        assert!(matches!(Phase::parse_list("nope:3"), Err(ParseError::UnknownPreset(_))));
    }
}
