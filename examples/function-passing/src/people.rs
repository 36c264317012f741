//! The data of the slides' example: persons and vehicles, and the same computation done locally
//! (what the distributed result is checked against).

use serde::{Deserialize, Serialize};

/// A person.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Person {
    /// Their name, which vehicles name their owner by.
    pub name: String,
    /// Their age in years.
    pub age: u32,
}

/// A vehicle and its owner.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Vehicle {
    /// The owner's name.
    pub owner: String,
    /// What it is.
    pub model: String,
}

const NAMES: [&str; 12] =
    ["Ada", "Barbara", "Claude", "Dennis", "Edsger", "Frances", "Grace", "Haskell", "Ivan", "Jean", "Ken", "Leslie"];
const MODELS: [&str; 5] = ["bicycle", "cargo bike", "van", "tram pass", "scooter"];

/// `count` persons with ages from 7 to 66 (names repeat with a number after the first dozen).
pub fn persons(count: usize) -> Vec<Person> {
    (0..count)
        .map(|i| {
            let name = match i / NAMES.len() {
                0 => NAMES[i % NAMES.len()].to_owned(),
                round => format!("{} {round}", NAMES[i % NAMES.len()]),
            };
            Person { name, age: 7 + ((i * 37) % 60) as u32 }
        })
        .collect()
}

/// Vehicles of some of the first `persons` persons: every third has one, every fifth two.
pub fn vehicles(persons: &[Person]) -> Vec<Vehicle> {
    let mut vehicles = Vec::new();
    for (i, person) in persons.iter().enumerate() {
        let owned = usize::from(i % 3 == 0) + usize::from(i % 5 == 0);
        for k in 0..owned {
            vehicles.push(Vehicle { owner: person.name.clone(), model: MODELS[(i + k) % MODELS.len()].to_owned() });
        }
    }
    vehicles
}

/// An adult and one vehicle of theirs: an element of `owners`.
pub type Owner = (Person, Vehicle);

/// What the slides' example computes: the adults who own a vehicle, with it, and a greeting for
/// each adult, youngest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlidesResult {
    /// `owners`: (adult, one vehicle of theirs).
    pub owners: Vec<Owner>,
    /// `labels`: "Hi, NAME" for each adult, by age.
    pub labels: Vec<String>,
}

/// The slides' example computed on one machine, without silos.
pub fn slides_locally(persons: &[Person], vehicles: &[Vehicle]) -> SlidesResult {
    let adults: Vec<&Person> = persons.iter().filter(|p| p.age >= 18).collect();
    let mut owners = Vec::new();
    for p in &adults {
        for v in vehicles.iter().filter(|v| v.owner == p.name) {
            owners.push(((*p).clone(), v.clone()));
        }
    }
    let mut sorted = adults.clone();
    sorted.sort_by_key(|p| p.age);
    let labels = sorted.iter().map(|p| format!("Hi, {}", p.name)).collect();
    SlidesResult { owners, labels }
}
