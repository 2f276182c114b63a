//! What a place that keeps the class list promises: the [`RosterStore`]
//! trait, what it keeps ([`Estudiante`]), and the tests ([`suite`]) every
//! backend passes. Names are unique without regard to case ([`clave`]).

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::error::StoreError;

pub use super::error::MAX_ESTUDIANTES;

/// Un estudiante de la lista de la clase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Estudiante {
    /// Único sin mirar mayúsculas; letras, cifras, espacios y `. _ -`, hasta 32.
    pub nombre: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccion: Option<String>,
}

/// Where the list is kept: the same store as the count.
pub trait RosterStore: Send + Sync {
    /// Every entry, by name.
    fn list(&self) -> impl Future<Output = Result<Vec<Estudiante>, StoreError>> + Send;
    fn get(
        &self,
        nombre: &str,
    ) -> impl Future<Output = Result<Option<Estudiante>, StoreError>> + Send;
    /// Adds `estudiante` unless its name is taken (then `false`);
    /// [`StoreError::ListFull`] past [`MAX_ESTUDIANTES`].
    fn create(
        &self,
        estudiante: &Estudiante,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Adds or replaces; `true` when it was added;
    /// [`StoreError::ListFull`] when it would add past [`MAX_ESTUDIANTES`].
    fn put(&self, estudiante: &Estudiante)
        -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Removes; `false` when there was none.
    fn delete(&self, nombre: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The key of a name: unique without regard to case.
pub fn clave(nombre: &str) -> String {
    nombre.to_lowercase()
}

/// The tests every backend passes (as [`super::count::suite`]).
#[doc(hidden)]
pub mod suite {
    use super::*;

    fn ana() -> Estudiante {
        Estudiante {
            nombre: "Ana".into(),
            correo: Some("ana@example.org".into()),
            seccion: None,
        }
    }

    /// `store` starts with an empty list.
    pub async fn the_list_is_a_resource_with_case_blind_names(store: &impl RosterStore) {
        assert!(store.list().await.unwrap().is_empty());
        assert!(store.create(&ana()).await.unwrap());
        let shouting = Estudiante {
            nombre: "ANA".into(),
            ..ana()
        };
        assert!(
            !store.create(&shouting).await.unwrap(),
            "taken, whatever the case"
        );
        assert_eq!(store.get("ana").await.unwrap(), Some(ana()));
        let moved = Estudiante {
            seccion: Some("2".into()),
            ..ana()
        };
        assert!(!store.put(&moved).await.unwrap(), "replaced, not added");
        assert!(
            store.put(&moved).await.is_ok_and(|added| !added),
            "idempotent"
        );
        assert_eq!(store.list().await.unwrap(), [moved]);
        assert!(store.delete("ANA").await.unwrap());
        assert!(!store.delete("Ana").await.unwrap());
        assert_eq!(store.get("Ana").await.unwrap(), None);
    }
}
